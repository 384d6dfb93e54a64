#include "services/cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "codegen/code_format.h"
#include "codegen/keyset.h"
#include "codegen/keyset_file.h"
#include "codegen/set_layout.h"
#include "printer-export/qr.h"
#include "services/cli/cli_util.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"

namespace youma::cli {
namespace {

using common::LoadKeyset;
using common::LoadMasterKey;
using common::ReadFile;
using common::SaveKeyset;
using common::WriteFileAtomic;

using codegen::Keyset;
using codegen::Scheme;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

absl::StatusOr<uint32_t> ParseKeyId(const std::string& text) {
  uint32_t id = 0;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    if (absl::SimpleHexAtoi(text.substr(2), &id) && id != 0) return id;
  } else if (absl::SimpleAtoi(text, &id) && id != 0) {
    return id;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "key id '", text, "' is not a key id: use the 0x… form `youma keys list` shows"));
}

std::string KeyIdText(uint32_t id) { return absl::StrFormat("0x%08x", id); }

// Options every keyset-opening command shares.
struct KeysetFlags {
  std::string keyset;
  std::string master_key_file;

  void Add(CLI::App* cmd, bool keyset_required = true) {
    auto* opt = cmd->add_option("--keyset", keyset, "the brand's encrypted keyset file");
    if (keyset_required) opt->required();
    cmd->add_option("--master-key-file", master_key_file,
                    "file holding the 32-byte master key in hex (default: $YOUMA_MASTER_KEY)");
  }
  absl::StatusOr<codegen::MasterKey> MasterKey() const { return LoadMasterKey(master_key_file); }
  absl::StatusOr<Keyset> Open() const {
    YOUMA_ASSIGN_OR_RETURN(codegen::MasterKey mk, MasterKey());
    return LoadKeyset(keyset, mk);
  }
};

// Loads, changes and saves a keyset in one step.
int EditKeyset(const KeysetFlags& flags, const std::function<absl::Status(Keyset&)>& edit) {
  absl::StatusOr<codegen::MasterKey> mk = flags.MasterKey();
  if (!mk.ok()) return Fail(mk.status());
  absl::StatusOr<Keyset> ks = LoadKeyset(flags.keyset, *mk);
  if (!ks.ok()) return Fail(ks.status());
  if (absl::Status st = edit(*ks); !st.ok()) return Fail(st);
  if (absl::Status st = SaveKeyset(flags.keyset, *ks, *mk); !st.ok()) return Fail(st);
  return kExitOk;
}

void PrintKeyList(const Keyset& ks, std::ostream& out) {
  out << "keyset of " << ks.brand() << "  (URL prefix " << ks.url_prefix() << ", GS1 resolver "
      << ks.gs1_resolver() << ")\n";
  out << absl::StrFormat("  %-10s  %-7s  %-9s  %-7s  %s\n", "KEY ID", "SCHEME", "STATUS",
                         "PRIMARY", "CREATED (UTC)");
  for (const codegen::KeyInfo& k : ks.List()) {
    out << absl::StrFormat("  %-10s  %-7s  %-9s  %-7s  %s\n", KeyIdText(k.key_id),
                           codegen::SchemeName(k.scheme), codegen::KeyStatusName(k.status),
                           k.primary ? "primary" : "", absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                                                        k.created,
                                                                        absl::UTCTimeZone()));
  }
}

// ------------------------------------------------------------------- keys

void AddKeysCommands(CLI::App& app) {
  CLI::App* keys = app.add_subcommand("keys", "Manage master keys and a brand's keyset");
  keys->require_subcommand(1);

  {
    auto* cmd = keys->add_subcommand("new-master-key",
                                     "Write a new random 32-byte master key (hex) to a file");
    auto out = std::make_shared<std::string>();
    cmd->add_option("--out", *out, "file to create (mode 0600; never overwritten)")->required();
    cmd->footer("Example:\n  youma keys new-master-key --out master.key\n"
                "Keep it secret (a Kubernetes Secret); every keyset is encrypted under it.");
    cmd->callback([out] {
      if (std::filesystem::exists(*out)) {
        throw CLI::RuntimeError(Fail(absl::AlreadyExistsError(absl::StrCat(
            *out, " already exists; a master key is never overwritten (keysets sealed under "
                  "it would be lost)"))));
      }
      const codegen::MasterKey mk = codegen::NewMasterKey();
      if (auto st = WriteFileAtomic(*out, codegen::MasterKeyText(
                                              mk, codegen::SecretKeyAccess::Grant()));
          !st.ok()) {
        throw CLI::RuntimeError(Fail(st));
      }
      std::cout << "wrote a new master key to " << *out << " (mode 0600)\n";
    });
  }

  {
    auto* cmd = keys->add_subcommand(
        "create", "Create a brand's keyset with a primary key for each scheme");
    struct Opts {
      KeysetFlags flags;
      codegen::KeysetOptions ks;
    };
    auto o = std::make_shared<Opts>();
    o->flags.Add(cmd);
    cmd->add_option("--brand", o->ks.brand, "brand name")->required();
    cmd->add_option("--prefix", o->ks.url_prefix,
                    "URL printed before compact and signed tokens (QR alphanumeric: upper "
                    "case, ending in /)")
        ->capture_default_str();
    cmd->add_option("--resolver", o->ks.gs1_resolver, "GS1 Digital Link resolver base for gs1 codes")
        ->capture_default_str();
    cmd->footer("Example:\n  youma keys create --keyset moutai.keyset --brand Moutai \\\n"
                "      --prefix HTTPS://YM.MOUTAI.CN/ --master-key-file master.key");
    cmd->callback([o] {
      if (std::filesystem::exists(o->flags.keyset)) {
        throw CLI::RuntimeError(Fail(absl::AlreadyExistsError(absl::StrCat(
            o->flags.keyset, " already exists; use `youma keys rotate` to add keys to it"))));
      }
      absl::StatusOr<codegen::MasterKey> mk = o->flags.MasterKey();
      if (!mk.ok()) throw CLI::RuntimeError(Fail(mk.status()));
      absl::StatusOr<Keyset> ks = Keyset::Create(o->ks, absl::Now());
      if (!ks.ok()) throw CLI::RuntimeError(Fail(ks.status()));
      if (auto st = SaveKeyset(o->flags.keyset, *ks, *mk); !st.ok()) {
        throw CLI::RuntimeError(Fail(st));
      }
      std::cout << "created " << o->flags.keyset << "\n";
      PrintKeyList(*ks, std::cout);
    });
  }

  {
    auto* cmd = keys->add_subcommand(
        "rotate", "Add a key for a scheme and make it the primary; printed codes stay valid");
    auto flags = std::make_shared<KeysetFlags>();
    auto scheme = std::make_shared<std::string>();
    flags->Add(cmd);
    cmd->add_option("--scheme", *scheme, "compact, signed or gs1")->required();
    cmd->footer("Example:\n  youma keys rotate --keyset moutai.keyset --scheme compact");
    cmd->callback([flags, scheme] {
      absl::StatusOr<Scheme> s = codegen::ParseScheme(*scheme);
      if (!s.ok()) throw CLI::RuntimeError(Fail(s.status()));
      uint32_t new_id = 0;
      const int rc = EditKeyset(*flags, [&](Keyset& ks) -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(new_id, ks.Rotate(*s, absl::Now()));
        return absl::OkStatus();
      });
      if (rc != kExitOk) throw CLI::RuntimeError(rc);
      std::cout << "new " << codegen::SchemeName(*s) << " primary key " << KeyIdText(new_id)
                << "; codes issued under older keys still verify\n";
    });
  }

  {
    auto* cmd = keys->add_subcommand("list", "List the keys of a keyset");
    auto flags = std::make_shared<KeysetFlags>();
    flags->Add(cmd);
    cmd->footer("Example:\n  youma keys list --keyset moutai.keyset");
    cmd->callback([flags] {
      absl::StatusOr<Keyset> ks = flags->Open();
      if (!ks.ok()) throw CLI::RuntimeError(Fail(ks.status()));
      PrintKeyList(*ks, std::cout);
    });
  }

  {
    // Master-key rotation: every keyset is opened with the old key and sealed
    // again under the new one; the keys inside (and so every code) stay the same.
    auto* cmd = keys->add_subcommand("reseal", "Seal a keyset under a new master key (master-key rotation)");
    auto flags = std::make_shared<KeysetFlags>();
    auto new_key = std::make_shared<std::string>();
    flags->Add(cmd);
    cmd->add_option("--new-master-key-file", *new_key, "the new master key (from `youma keys new-master-key`)")
        ->required();
    cmd->footer("Example:\n  youma keys new-master-key --out master-2.key\n"
                "  youma keys reseal --keyset moutai.keyset --master-key-file master.key "
                "--new-master-key-file master-2.key");
    cmd->callback([flags, new_key] {
      absl::Status st = [&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(Keyset ks, flags->Open());
        YOUMA_ASSIGN_OR_RETURN(codegen::MasterKey next, LoadMasterKey(*new_key));
        YOUMA_RETURN_IF_ERROR(SaveKeyset(flags->keyset, ks, next));
        // Read back with the new key before anyone relies on the file.
        YOUMA_ASSIGN_OR_RETURN(Keyset check, LoadKeyset(flags->keyset, next));
        if (check.keys().size() != ks.keys().size()) return absl::DataLossError("the resealed keyset lost keys");
        std::cout << flags->keyset << ": " << ks.keys().size() << " keys of " << ks.brand()
                  << " now sealed under the new master key\n";
        return absl::OkStatus();
      }();
      if (!st.ok()) throw CLI::RuntimeError(Fail(st));
    });
  }

  struct StatusChange {
    const char* name;
    const char* help;
    const char* done;
    absl::Status (Keyset::*change)(uint32_t);
  };
  for (const StatusChange& change : {
           StatusChange{"disable", "Stop a key from verifying (reversible with enable)",
                        "disabled", &Keyset::Disable},
           StatusChange{"enable", "Let a disabled key verify again", "enabled",
                        &Keyset::Enable},
           StatusChange{"destroy",
                        "Erase a key's material for good; its codes verify as counterfeit",
                        "destroyed", &Keyset::Destroy},
       }) {
    auto* cmd = keys->add_subcommand(change.name, change.help);
    auto flags = std::make_shared<KeysetFlags>();
    auto key_id = std::make_shared<std::string>();
    auto yes = std::make_shared<bool>(false);
    flags->Add(cmd);
    cmd->add_option("--key-id", *key_id, "key id as `youma keys list` shows it (0x…)")->required();
    const bool destroy = absl::string_view(change.name) == "destroy";
    if (destroy) cmd->add_flag("--yes", *yes, "confirm: destroying cannot be undone");
    cmd->footer(absl::StrCat("Example:\n  youma keys ", change.name,
                             " --keyset moutai.keyset --key-id 0x1a2b3c4d", destroy ? " --yes" : ""));
    cmd->callback([flags, key_id, yes, change, destroy] {
      absl::StatusOr<uint32_t> id = ParseKeyId(*key_id);
      if (!id.ok()) throw CLI::RuntimeError(Fail(id.status()));
      if (destroy && !*yes) {
        throw CLI::RuntimeError(Fail(absl::InvalidArgumentError(
            "destroying a key cannot be undone and every code issued under it becomes "
            "counterfeit; pass --yes to confirm")));
      }
      const int rc = EditKeyset(*flags, [&](Keyset& ks) { return (ks.*change.change)(*id); });
      if (rc != kExitOk) throw CLI::RuntimeError(rc);
      std::cout << "key " << KeyIdText(*id) << " " << change.done << "\n";
    });
  }

  {
    auto* cmd = keys->add_subcommand(
        "export-public", "Write the Ed25519 public keys (JSON) for offline case-code scanners");
    auto flags = std::make_shared<KeysetFlags>();
    auto out = std::make_shared<std::string>();
    flags->Add(cmd);
    cmd->add_option("--out", *out, "JSON file to write")->required();
    cmd->footer("Example:\n  youma keys export-public --keyset moutai.keyset --out moutai.pub.json\n"
                "  youma verify --public-keyset moutai.pub.json CODE");
    cmd->callback([flags, out] {
      absl::StatusOr<Keyset> ks = flags->Open();
      if (!ks.ok()) throw CLI::RuntimeError(Fail(ks.status()));
      const auto pub = ks->ToPublicProto();
      if (auto st = WriteFileAtomic(*out, codegen::PublicKeysetToJson(pub), 0644); !st.ok()) {
        throw CLI::RuntimeError(Fail(st));
      }
      std::cout << "wrote " << pub.keys_size() << " public key(s) of " << ks->brand() << " to "
                << *out << "\n";
    });
  }
}

// ------------------------------------------------------------------ codes

void AddCodesCommands(CLI::App& app) {
  CLI::App* codes = app.add_subcommand("codes", "Issue codes outside a batch (printer test runs)");
  codes->require_subcommand(1);
  auto* cmd = codes->add_subcommand("sample", "Print codes, one per line (a printer test run)");
  struct Opts {
    KeysetFlags flags;
    std::string scheme = "compact";
    std::string case_scheme = "signed";
    uint64_t count = 10;
    uint64_t start = 1;
    std::string prefix;
    std::string gtin;
    uint32_t set_size = 0;
  };
  auto o = std::make_shared<Opts>();
  o->flags.Add(cmd);
  cmd->add_option("--scheme", o->scheme, "compact, signed or gs1 (bottles, with --set-size)")
      ->capture_default_str();
  cmd->add_option("--count", o->count, "how many codes (sets, with --set-size), 1 to 1000000")
      ->capture_default_str();
  cmd->add_option("--start", o->start, "first code id")->capture_default_str();
  cmd->add_option("--prefix", o->prefix,
                  "URL before the token (default: the keyset's), or the gs1 resolver base");
  cmd->add_option("--gtin", o->gtin, "product GTIN (gs1 scheme)");
  cmd->add_option("--set-size", o->set_size,
                  "pre-associated sets: N bottles per case; prints one set per line");
  cmd->add_option("--case-scheme", o->case_scheme, "scheme of case codes in sets")
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  youma codes sample --keyset moutai.keyset --scheme compact --count 5\n"
      "  youma codes sample --keyset moutai.keyset --scheme gs1 --gtin 06901234567892\n"
      "  youma codes sample --keyset moutai.keyset --set-size 6 --count 2   # case<TAB>6 bottles");
  cmd->callback([o] {
    auto run = [&]() -> absl::Status {
      if (o->count < 1 || o->count > 1'000'000) {
        return absl::InvalidArgumentError(
            absl::StrCat("--count ", o->count, " is outside 1..1000000; batches come from "
                         "the issuer service"));
      }
      YOUMA_ASSIGN_OR_RETURN(Scheme scheme, codegen::ParseScheme(o->scheme));
      YOUMA_ASSIGN_OR_RETURN(Keyset ks, o->flags.Open());
      codegen::MintOptions mint;
      if (!o->prefix.empty()) mint.prefix = o->prefix;
      mint.gtin = o->gtin;
      YOUMA_ASSIGN_OR_RETURN(codegen::CodeMinter bottles,
                             codegen::CodeMinter::Create(ks, scheme, mint));
      const uint64_t per = o->set_size == 0 ? 1 : uint64_t{o->set_size} + 1;
      if (o->start < 1 || o->start + o->count * per - 1 > codegen::kMaxCodeId) {
        return absl::OutOfRangeError(absl::StrCat(
            "code ids must lie in 1..", codegen::kMaxCodeId, " (48 bits)"));
      }
      std::string line;
      if (o->set_size == 0) {
        for (uint64_t i = 0; i < o->count; ++i) {
          line.clear();
          YOUMA_RETURN_IF_ERROR(bottles.AppendUrl(o->start + i, &line));
          line.push_back('\n');
          std::fwrite(line.data(), 1, line.size(), stdout);
        }
        return absl::OkStatus();
      }
      YOUMA_ASSIGN_OR_RETURN(Scheme case_scheme, codegen::ParseScheme(o->case_scheme));
      YOUMA_ASSIGN_OR_RETURN(codegen::CodeMinter cases,
                             codegen::CodeMinter::Create(ks, case_scheme, mint));
      const codegen::SetLayout layout(o->start, o->set_size);
      for (uint64_t s = 0; s < o->count; ++s) {
        line.clear();
        YOUMA_RETURN_IF_ERROR(cases.AppendUrl(layout.CaseId(s), &line));
        for (uint32_t b = 0; b < o->set_size; ++b) {
          line.push_back('\t');
          YOUMA_RETURN_IF_ERROR(bottles.AppendUrl(layout.BottleId(s, b), &line));
        }
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), stdout);
      }
      return absl::OkStatus();
    };
    if (absl::Status st = run(); !st.ok()) throw CLI::RuntimeError(Fail(st));
  });
}

// ----------------------------------------------------------------- verify

void AddVerifyCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "verify", "Check codes: GENUINE, COUNTERFEIT or MALFORMED, one line per code");
  struct Opts {
    KeysetFlags flags;
    std::string public_keyset;
    std::vector<std::string> codes;
  };
  auto o = std::make_shared<Opts>();
  o->flags.Add(cmd, /*keyset_required=*/false);
  cmd->add_option("--public-keyset", o->public_keyset,
                  "verify signed codes with exported public keys only (offline scanners)");
  cmd->add_option("codes", o->codes, "codes as scanned (URLs or tokens); none: read lines from stdin");
  cmd->footer(
      "Exit status: 0 all genuine, 1 any counterfeit, 2 malformed input or usage error.\n"
      "Examples:\n"
      "  youma verify --keyset moutai.keyset HTTPS://YM.MOUTAI.CN/CB3F...\n"
      "  youma codes sample --keyset moutai.keyset | youma verify --keyset moutai.keyset");
  cmd->callback([o] {
    if (o->flags.keyset.empty() == o->public_keyset.empty()) {
      throw CLI::RuntimeError(Fail(absl::InvalidArgumentError(
          "give exactly one of --keyset FILE (all schemes) or --public-keyset FILE (signed "
          "codes only)")));
    }
    absl::StatusOr<codegen::CodeVerifier> verifier = [&]() -> absl::StatusOr<codegen::CodeVerifier> {
      if (!o->public_keyset.empty()) {
        YOUMA_ASSIGN_OR_RETURN(std::string json, ReadFile(o->public_keyset));
        YOUMA_ASSIGN_OR_RETURN(auto pub, codegen::PublicKeysetFromJson(json));
        return codegen::CodeVerifier::ForPublicKeyset(pub);
      }
      YOUMA_ASSIGN_OR_RETURN(Keyset ks, o->flags.Open());
      return codegen::CodeVerifier::ForKeyset(ks);
    }();
    if (!verifier.ok()) throw CLI::RuntimeError(Fail(verifier.status()));
    if (o->codes.empty()) {
      for (std::string line; std::getline(std::cin, line);) {
        if (!line.empty()) o->codes.push_back(line);
      }
    }
    int genuine = 0, counterfeit = 0, malformed = 0;
    for (const std::string& code : o->codes) {
      const codegen::Verification v = verifier->Verify(code);
      switch (v.verdict) {
        case codegen::Verdict::kGenuine:
          ++genuine;
          std::cout << absl::StrFormat("GENUINE      %-7s  id=%d  key=%s%s  %s\n",
                                       codegen::SchemeName(v.scheme), v.code_id,
                                       KeyIdText(v.key_id),
                                       v.gtin.empty() ? "" : absl::StrCat("  gtin=", v.gtin), code);
          break;
        case codegen::Verdict::kCounterfeit:
          ++counterfeit;
          std::cout << "COUNTERFEIT  " << code << "\n";
          break;
        case codegen::Verdict::kMalformed:
        case codegen::Verdict::kUnverifiable:
          ++malformed;
          std::cout << absl::StrFormat("%-12s %s  (%s)\n", codegen::VerdictName(v.verdict), code,
                                       v.problem);
          break;
      }
    }
    if (o->codes.size() > 1) {
      std::cerr << genuine << " genuine, " << counterfeit << " counterfeit, " << malformed
                << " malformed or unverifiable\n";
    }
    if (o->codes.empty()) {
      throw CLI::RuntimeError(Fail(absl::InvalidArgumentError("no codes to verify")));
    }
    if (malformed > 0) throw CLI::RuntimeError(kExitUsage);
    if (counterfeit > 0) throw CLI::RuntimeError(kExitFailed);
  });
}

// --------------------------------------------------------------------- qr

void AddQrCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("qr", "Render a code as a QR image (PNG or SVG)");
  struct Opts {
    std::string format = "png";
    std::string out;
    std::string text;
    std::string ec = "M";
    int module_px = 8;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--format", o->format, "png or svg")->capture_default_str();
  cmd->add_option("--out", o->out, "image file to write")->required();
  cmd->add_option("--ec", o->ec, "error correction: L, M, Q or H")->capture_default_str();
  cmd->add_option("--module-px", o->module_px, "PNG pixels per module")->capture_default_str();
  cmd->add_option("code", o->text, "the code (URL) to encode")->required();
  cmd->footer("Example:\n  youma qr --format png --out bottle.png HTTPS://YM.MOUTAI.CN/CB3F...");
  cmd->callback([o] {
    auto run = [&]() -> absl::Status {
      YOUMA_ASSIGN_OR_RETURN(printer::QrEcLevel level, printer::ParseQrEcLevel(o->ec));
      YOUMA_ASSIGN_OR_RETURN(printer::QrSymbol qr, printer::EncodeQr(o->text, level));
      std::string data;
      if (o->format == "png") {
        YOUMA_ASSIGN_OR_RETURN(data, printer::RenderPng(qr, o->module_px));
      } else if (o->format == "svg") {
        data = printer::RenderSvg(qr);
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown format '", o->format, "': use png or svg"));
      }
      YOUMA_RETURN_IF_ERROR(WriteFileAtomic(o->out, data, 0644));
      std::cout << absl::StrFormat("wrote %s: QR version %d-%c, %dx%d modules\n", o->out,
                                   qr.version(), printer::QrEcLevelName(level), qr.size(),
                                   qr.size());
      return absl::OkStatus();
    };
    if (absl::Status st = run(); !st.ok()) throw CLI::RuntimeError(Fail(st));
  });
}

void AddDemoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "demo", "Walk through keys -> codes -> QR images -> verification, explaining each step");
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--dir", o->dir, "folder for the demo's files")->capture_default_str();
  cmd->add_option("--server", o->server,
                  "server to use; if none answers, one is started on the embedded default")
      ->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "the server's data directory")->capture_default_str();
  cmd->add_option("--http", o->http, "the HTTP front of a server the demo starts")->capture_default_str();
  cmd->add_flag("--offline", o->offline_only, "only keys, codes, QR images and verification");
  cmd->callback([o] {
    const int rc = RunDemo(*o);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "youma: one-item-one-code (一物一码) QR traceability and scan rewards.\n"
      "Issue signed case and bottle codes, print them as QR, verify scans."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  AddKeysCommands(app);
  AddCodesCommands(app);
  AddVerifyCommand(app);
  AddQrCommand(app);
  AddDemoCommand(app);
  AddServerCommands(app);
  AddScanCommands(app);
  AddStoreCommands(app);
  AddBackupCommands(app);
  app.footer("Start with `youma demo`. Every command has --help with an example.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return kExitOk;
}

}  // namespace youma::cli
