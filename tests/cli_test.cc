// The `youma` binary end to end: keys, codes, verify, qr, as an operator runs them.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_split.h"
#include "printer-export/qr.h"
#include "tests/test_util.h"

namespace youma::cli {
namespace {

struct Run {
  int exit_code;
  std::string output;  // stdout and stderr
};

Run Youma(const std::string& args, const std::string& env = "") {
  const std::string cmd =
      "env -u YOUMA_MASTER_KEY " + env + " " YOUMA_BINARY " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

struct Workdir {
  std::string dir;
  Workdir() {
    char tmpl[] = "/tmp/youma-cli-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Workdir() { std::filesystem::remove_all(dir); }
  std::string operator/(const std::string& name) const { return dir + "/" + name; }
};

// `youma serve` with `args` in the background, its log in `log`, until Stop
// (SIGTERM) or the end of the scope; constructed once it has started.
class Serving {
 public:
  Serving(std::string log, const std::vector<std::string>& args) : log_(std::move(log)) {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      (void)freopen(log_.c_str(), "w", stderr);
      ::unsetenv("YOUMA_MASTER_KEY");
      std::vector<char*> argv = {const_cast<char*>(YOUMA_BINARY)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(YOUMA_BINARY, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && !Contains(Log(), "\"event\":\"serve_started\""); ++i) usleep(100'000);
  }
  ~Serving() { Stop(); }
  // SIGTERM, then the exit status.
  int Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return status_;
  }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The gRPC address from the log ("… on 127.0.0.1:40123 (plaintext)").
  std::string Address() const {
    std::smatch m;
    const std::string log = Log();
    return std::regex_search(log, m, std::regex(" on (127\\.0\\.0\\.1:[0-9]+) \\(")) ? m[1].str() : "";
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// A master key and a keyset in a fresh folder; `flags` opens the keyset.
struct Brand {
  Workdir wd;
  std::string flags;
  Brand() {
    REQUIRE(Youma("keys new-master-key --out " + (wd / "master.key")).exit_code == 0);
    flags = "--keyset " + (wd / "brand.keyset") + " --master-key-file " + (wd / "master.key");
    const Run r = Youma("keys create " + flags + " --brand Moutai --prefix HTTPS://YM.MOUTAI.CN/");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
};

TEST_CASE("new-master-key writes 64 hex characters, mode 0600, and never overwrites") {
  Workdir wd;
  const Run r = Youma("keys new-master-key --out " + (wd / "mk"));
  CHECK(r.exit_code == 0);
  std::ifstream in(wd / "mk");
  std::string key;
  in >> key;
  CHECK(key.size() == 64);
  struct stat st;
  REQUIRE(stat((wd / "mk").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const Run again = Youma("keys new-master-key --out " + (wd / "mk"));
  CHECK(again.exit_code == 1);
  CHECK(Contains(again.output, "already exists"));
  std::ifstream in2(wd / "mk");
  std::string key2;
  in2 >> key2;
  CHECK(key2 == key);
}

TEST_CASE("keys create, list, rotate, disable, destroy work on the keyset file") {
  Brand b;
  Run list = Youma("keys list " + b.flags);
  CHECK(list.exit_code == 0);
  CHECK(Contains(list.output, "keyset of Moutai"));
  CHECK(Contains(list.output, "HTTPS://YM.MOUTAI.CN/"));
  int primaries = 0;
  std::string old_compact;
  for (const std::string& line : Lines(list.output)) {
    if (Contains(line, "primary")) ++primaries;
    if (Contains(line, "compact")) old_compact = line.substr(2, 10);
  }
  CHECK(primaries == 3);
  REQUIRE(old_compact.starts_with("0x"));

  const Run disable_primary = Youma("keys disable " + b.flags + " --key-id " + old_compact);
  CHECK(disable_primary.exit_code == 1);
  CHECK(Contains(disable_primary.output, "primary and cannot be disabled"));

  const Run rotate = Youma("keys rotate " + b.flags + " --scheme compact");
  CHECK(rotate.exit_code == 0);
  CHECK(Contains(rotate.output, "new compact primary key 0x"));
  CHECK(Youma("keys disable " + b.flags + " --key-id " + old_compact).exit_code == 0);
  CHECK(Contains(Youma("keys list " + b.flags).output, old_compact + "  compact  DISABLED"));
  CHECK(Youma("keys enable " + b.flags + " --key-id " + old_compact).exit_code == 0);

  const Run unconfirmed = Youma("keys destroy " + b.flags + " --key-id " + old_compact);
  CHECK(unconfirmed.exit_code == 2);
  CHECK(Contains(unconfirmed.output, "--yes"));
  CHECK(Youma("keys destroy " + b.flags + " --key-id " + old_compact + " --yes").exit_code == 0);
  CHECK(Contains(Youma("keys list " + b.flags).output, old_compact + "  compact  DESTROYED"));

  const Run unknown = Youma("keys disable " + b.flags + " --key-id 0x00000001");
  CHECK(unknown.exit_code == 1);
  CHECK(Contains(unknown.output, "no key 0x00000001"));
  CHECK(Youma("keys rotate " + b.flags + " --scheme qr").exit_code == 2);
}

TEST_CASE("keys reseal moves a keyset to a new master key; the old key opens it no more, codes stay the same") {
  Brand b;
  const Run sample = Youma("codes sample " + b.flags + " --scheme compact --count 1");
  REQUIRE(sample.exit_code == 0);
  const std::string code = Lines(sample.output).at(0);
  REQUIRE(Youma("keys new-master-key --out " + (b.wd / "master-2.key")).exit_code == 0);
  const Run r = Youma("keys reseal " + b.flags + " --new-master-key-file " + (b.wd / "master-2.key"));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "now sealed under the new master key"));
  CHECK(Youma("keys list " + b.flags).exit_code != 0);
  const std::string resealed = "--keyset " + (b.wd / "brand.keyset") + " --master-key-file " + (b.wd / "master-2.key");
  CHECK(Youma("keys list " + resealed).exit_code == 0);
  const Run v = Youma("verify " + resealed + " '" + code + "'");
  CHECK(v.exit_code == 0);
  CHECK(Contains(v.output, "GENUINE"));
}

TEST_CASE("codes sample prints codes that verify; verify exits 0, 1 or 2") {
  Brand b;
  const Run sample = Youma("codes sample " + b.flags + " --scheme compact --count 5 --start 100");
  REQUIRE(sample.exit_code == 0);
  const auto codes = Lines(sample.output);
  REQUIRE(codes.size() == 5);
  for (const auto& c : codes) CHECK(c.starts_with("HTTPS://YM.MOUTAI.CN/"));

  const Run ok = Youma("verify " + b.flags + " " + codes[0] + " " + codes[4]);
  CHECK(ok.exit_code == 0);
  CHECK(Contains(ok.output, "GENUINE      compact  id=100"));
  CHECK(Contains(ok.output, "id=104"));

  std::string forged = codes[1];
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  const Run bad = Youma("verify " + b.flags + " " + codes[1] + " " + forged);
  CHECK(bad.exit_code == 1);
  CHECK(Contains(bad.output, "COUNTERFEIT  " + forged));
  CHECK(Contains(bad.output, "1 genuine, 1 counterfeit, 0 malformed"));

  const Run malformed = Youma("verify " + b.flags + " HTTPS://YM.MOUTAI.CN/SHORT " + forged);
  CHECK(malformed.exit_code == 2);
  CHECK(Contains(malformed.output, "MALFORMED    HTTPS://YM.MOUTAI.CN/SHORT  (token 'SHORT' has 5"));

  // Codes read from stdin, one per line.
  const Run piped = Youma("verify " + b.flags + " < /dev/stdin <<'EOF'\n" + sample.output + "EOF\n");
  CHECK(piped.exit_code == 0);
  CHECK(Contains(piped.output, "5 genuine, 0 counterfeit"));

  CHECK(Youma("verify " + b.flags).exit_code == 2);  // stdin is empty
  CHECK(Youma("verify " + codes[0]).exit_code == 2);  // no keyset
}

TEST_CASE("gs1 and set samples: a GTIN is required and sets print a case with its bottles") {
  Brand b;
  const Run no_gtin = Youma("codes sample " + b.flags + " --scheme gs1 --count 1");
  CHECK(no_gtin.exit_code == 2);
  CHECK(Contains(no_gtin.output, "GTIN"));
  const Run gs1 = Youma("codes sample " + b.flags +
                        " --scheme gs1 --gtin 6901234567892 --count 2 --prefix https://id.moutai.cn");
  REQUIRE(gs1.exit_code == 0);
  const auto gs1_codes = Lines(gs1.output);
  REQUIRE(gs1_codes.size() == 2);
  CHECK(gs1_codes[0].starts_with("https://id.moutai.cn/01/06901234567892/21/"));
  CHECK(Youma("verify " + b.flags + " " + gs1_codes[1]).exit_code == 0);

  const Run sets = Youma("codes sample " + b.flags + " --set-size 6 --count 2 --start 1000");
  REQUIRE(sets.exit_code == 0);
  const auto lines = Lines(sets.output);
  REQUIRE(lines.size() == 2);
  const std::vector<std::string> second = absl::StrSplit(lines[1], '\t');
  REQUIRE(second.size() == 7);
  const Run v = Youma("verify " + b.flags + " " + second[0] + " " + second[6]);
  CHECK(v.exit_code == 0);
  CHECK(Contains(v.output, "GENUINE      signed   id=1007"));
  CHECK(Contains(v.output, "GENUINE      compact  id=1013"));
  CHECK(Youma("codes sample " + b.flags + " --count 0").exit_code == 2);
}

TEST_CASE("the master key comes from YOUMA_MASTER_KEY when no file is given") {
  Brand b;
  std::ifstream in(b.wd / "master.key");
  std::string hex;
  in >> hex;
  const std::string keyset = "--keyset " + (b.wd / "brand.keyset");
  CHECK(Youma("keys list " + keyset, "YOUMA_MASTER_KEY=" + hex).exit_code == 0);
  const Run none = Youma("keys list " + keyset);
  CHECK(none.exit_code == 1);
  CHECK(Contains(none.output, "no master key"));
  const Run wrong = Youma("keys list " + keyset, "YOUMA_MASTER_KEY=" + std::string(64, '1'));
  CHECK(wrong.exit_code == 1);
  CHECK(Contains(wrong.output, "master key is wrong"));
  const Run garbage = Youma("keys list " + keyset, "YOUMA_MASTER_KEY=nonsense");
  CHECK(garbage.exit_code == 2);
  CHECK_FALSE(Contains(garbage.output, "nonsense"));
}

TEST_CASE("a damaged keyset file gives a clear error, not a crash") {
  Brand b;
  const std::string path = b.wd / "brand.keyset";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const Run flipped = Youma("keys list " + b.flags);
  CHECK(flipped.exit_code == 1);
  CHECK(Contains(flipped.output, "file was modified"));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, 20);
  const Run truncated = Youma("keys list " + b.flags);
  CHECK(truncated.exit_code == 2);
  CHECK(Contains(truncated.output, "truncated"));
}

TEST_CASE("export-public lets an offline scanner verify signed case codes only") {
  Brand b;
  REQUIRE(Youma("keys export-public " + b.flags + " --out " + (b.wd / "pub.json")).exit_code == 0);
  const auto signed_code = Lines(Youma("codes sample " + b.flags + " --scheme signed --count 1").output);
  const auto compact_code = Lines(Youma("codes sample " + b.flags + " --count 1").output);
  REQUIRE(signed_code.size() == 1);
  const std::string pub = "--public-keyset " + (b.wd / "pub.json");
  const Run ok = Youma("verify " + pub + " " + signed_code[0]);
  CHECK(ok.exit_code == 0);
  CHECK(Contains(ok.output, "GENUINE      signed"));
  const Run compact = Youma("verify " + pub + " " + compact_code[0]);
  CHECK(compact.exit_code == 2);
  CHECK(Contains(compact.output, "UNVERIFIABLE"));
  CHECK(Youma("verify " + pub + " " + b.flags + " " + signed_code[0]).exit_code == 2);
}

TEST_CASE("qr writes PNG and SVG images that read back to the code") {
  Brand b;
  const auto code = Lines(Youma("codes sample " + b.flags + " --count 1").output);
  REQUIRE(code.size() == 1);
  const Run png = Youma("qr --format png --out " + (b.wd / "c.png") + " " + code[0]);
  CHECK(png.exit_code == 0);
  CHECK(Contains(png.output, "QR version 3-M, 29x29 modules"));
  std::ifstream in(b.wd / "c.png", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  ASSIGN_OR_FAIL(std::string text, printer::DecodePng(ss.str()));
  CHECK(text == code[0]);
  CHECK(Youma("qr --format svg --out " + (b.wd / "c.svg") + " " + code[0]).exit_code == 0);
  CHECK(std::filesystem::file_size(b.wd / "c.svg") > 100);
  CHECK(Youma("qr --format gif --out " + (b.wd / "c.gif") + " X").exit_code == 2);
}

TEST_CASE("every command's --help explains it with an example") {
  for (const char* cmd :
       {"keys new-master-key", "keys create", "keys rotate", "keys list", "keys disable",
        "keys destroy", "keys export-public", "codes sample", "verify", "qr"}) {
    const Run r = Youma(std::string(cmd) + " --help");
    INFO(cmd);
    CHECK(r.exit_code == 0);
    CHECK(Contains(r.output, "Example"));
  }
  CHECK(Youma("--help").exit_code == 0);
  CHECK(Youma("frobnicate").exit_code == 2);
}

TEST_CASE("serve --print-config shows the defaults, then the file's settings, then the flags over them") {
  Workdir wd;
  const Run defaults = Youma("serve --print-config");
  INFO(defaults.output);
  REQUIRE(defaults.exit_code == 0);
  const std::vector<std::string> lines = Lines(defaults.output);
  auto has = [](const std::vector<std::string>& l, const std::string& line) {
    return std::find(l.begin(), l.end(), line) != l.end();
  };
  CHECK(has(lines, "listen = \"127.0.0.1:7443\""));
  CHECK(has(lines, "scan-writers = 2"));
  CHECK(has(lines, "scan-log-hold-back-seconds = 5"));
  CHECK(has(lines, "scan-log-gate-wait-seconds = 1"));
  CHECK(has(lines, "web-record-timeout-seconds = 15"));
  CHECK(has(lines, "upgrade-catch-up-seconds = 10"));
  CHECK(has(lines, "scan-hours-rollup-seconds = 60"));
  const Run refused = Youma("serve --web-record-timeout-seconds 0 --print-config");
  CHECK(refused.exit_code != 0);
  CHECK(Contains(refused.output, "--web-record-timeout-seconds"));
  CHECK(has(Lines(Youma("serve --scan-log-gate-wait-seconds 3 --print-config").output),
            "scan-log-gate-wait-seconds = 3"));
  CHECK(has(lines, "trust-forwarded-for = false"));
  CHECK(has(lines, "scan-batch-scheduling = true"));
  CHECK(has(Lines(Youma("serve --scan-batch-scheduling=false --print-config").output),
            "scan-batch-scheduling = false"));
  CHECK(has(lines, "# mysql = \"\""));  // no default: shown commented out
  CHECK(has(lines, "# group-commit writers: each commits one group of scans at a time, while the next gathers"));
  CHECK_FALSE(Contains(defaults.output, "config ="));  // the file does not name itself

  // The printed file, edited, is a config file; a flag still wins over it.
  std::string edited = defaults.output;
  edited.replace(edited.find("scan-writers = 2"), 16, "scan-writers = 5");
  edited.replace(edited.find("listen = \"127.0.0.1:7443\""), 25, "listen = \"127.0.0.1:7000\"");
  edited.replace(edited.find("trust-forwarded-for = false"), 27, "trust-forwarded-for = true");
  {
    std::ofstream(wd / "youma.toml") << edited;
  }
  const Run mixed = Youma("serve --config " + (wd / "youma.toml") + " --scan-writers 7 --print-config");
  INFO(mixed.output);
  REQUIRE(mixed.exit_code == 0);
  const std::vector<std::string> mixed_lines = Lines(mixed.output);
  CHECK(has(mixed_lines, "listen = \"127.0.0.1:7000\""));
  CHECK(has(mixed_lines, "scan-writers = 7"));
  CHECK(has(mixed_lines, "trust-forwarded-for = true"));
  CHECK(has(mixed_lines, "grace-seconds = 20"));
  // $YOUMA_CONFIG names the file when --config does not.
  const Run from_env = Youma("serve --print-config", "YOUMA_CONFIG=" + (wd / "youma.toml"));
  CHECK(from_env.exit_code == 0);
  CHECK(has(Lines(from_env.output), "scan-writers = 5"));
}

TEST_CASE("a config file's unknown key, section or refused value stops serve, naming the file and the key") {
  Workdir wd;
  auto serve_with = [&](const std::string& text) {
    {
      std::ofstream(wd / "bad.toml") << text;
    }
    return Youma("serve --config " + (wd / "bad.toml") + " --data-dir " + (wd / "var"));
  };
  Run r = serve_with("listen = \"127.0.0.1:7000\"\nlistn = \"127.0.0.1:7001\"\n");
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "bad.toml: 'listn' is not a setting of `youma serve`; the settings are: listen, "));
  r = serve_with("[serve]\nlisten = \"127.0.0.1:7000\"\n");
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "bad.toml: [serve]: settings go at the top level, without sections"));
  r = serve_with("scan-writers = 100\n");
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "bad.toml: 'scan-writers': --scan-writers: Value 100 not in range 1 to 64"));
  r = serve_with("secure-cookies = maybe\n");
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "bad.toml: 'secure-cookies'"));
  r = Youma("serve --config " + (wd / "missing.toml"));
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "missing.toml does not exist"));
  // Nothing started: no data directory was made.
  CHECK_FALSE(std::filesystem::exists(wd / "var"));
}

TEST_CASE("MySQL TLS flags that cannot work stop serve, migrate and tokens bootstrap before they connect") {
  Workdir wd;
  Run r = Youma("serve --data-dir " + (wd / "var") + " --mysql-ca " + (wd / "ca.pem"));
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "--mysql-ca, --mysql-cert and --mysql-key are for an external --mysql"));
  CHECK_FALSE(std::filesystem::exists(wd / "var"));
  r = Youma("migrate --mysql mysql://youma@db.invalid:3306/youma --mysql-ca " + (wd / "ca.pem"));
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "--mysql-ca " + (wd / "ca.pem") + " cannot be read"));
  r = Youma("tokens bootstrap --mysql mysql://youma@db.invalid:3306/youma --mysql-cert " + (wd / "c.pem"));
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "--mysql-cert and --mysql-key need --mysql-ca"));
}

TEST_CASE("serve runs on its config file's settings, with the command line's over them") {
  Workdir wd;
  {
    std::ofstream(wd / "youma.toml") << "# a small scan server\n"
                                        "listen = \"127.0.0.1:0\"\n"
                                        "metrics-listen = \"\"\n"
                                        "http-listen = \"\"\n"
                                        "data-dir = \"" << (wd / "var") << "\"\n"
                                        "services = \"scan\"\n"
                                        "grace-seconds = 7\n";
  }
  Serving serving(wd / "serve.log", {"serve", "--config", wd / "youma.toml", "--grace-seconds", "3"});
  const int status = serving.Stop();
  const std::string out = serving.Log();
  INFO(out);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(Contains(out, "\"event\":\"serve_started\""));
  CHECK(Contains(out, "\"services\":\"scan\""));  // from the file
  CHECK(Contains(out, "\"metrics\":\"\""));
  CHECK(Contains(out, "\"grace_seconds\":3"));  // the flag over the file's 7
  CHECK(Contains(out, "embedded MariaDB under " + (wd / "var/mariadb")));
  CHECK(std::filesystem::exists(wd / "var/admin.token"));
}

TEST_CASE("the demo runs the whole flow and says what it shows") {
  Workdir wd;
  const Run r = Youma("demo --dir " + (wd / "demo") + " --data-dir " + (wd / "var") +
                      " --server 127.0.0.1:0 --http 127.0.0.1:0");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "the bottle code         -> GENUINE"));
  CHECK(Contains(r.output, "one character changed   -> COUNTERFEIT"));
  CHECK(Contains(r.output, "read back exactly"));
  CHECK_FALSE(Contains(r.output, "WRONG"));
  CHECK(Contains(r.output, "old bottle code         -> COUNTERFEIT"));
  CHECK(std::filesystem::exists(wd / "demo/bottle.png"));
  // Part 2 runs against a server it starts on the embedded default.
  CHECK(Contains(r.output, "starting one on the embedded default"));
  CHECK(Contains(r.output, "(the same one, nothing new issued)"));
  CHECK(Contains(r.output, "linked 12 bottles into 2 cases"));
  CHECK(Contains(r.output, "bottle 1 reported in case 2 -> FAILED_PRECONDITION"));
  CHECK(Contains(r.output, "14 codes activated"));
  CHECK(std::filesystem::exists(wd / "demo/batch-1.csv"));
  CHECK(std::filesystem::exists(wd / "demo/batch-1-png/1.png"));
  // Part 3: scans, a campaign, diversion, and the draw audit.
  CHECK(Contains(r.output, "Scanned 2 times, first on"));
  CHECK(Contains(r.output, "a forged code: Counterfeit"));
  CHECK(Contains(r.output, "registration bonus 5.00 yuan"));
  CHECK(Contains(r.output, "registering again -> ALREADY_EXISTS"));
  CHECK(Contains(r.output, "opened for the store, its 6 bottles now count for it"));
  CHECK(Contains(r.output, "[from store 天河烟酒行]"));
  CHECK(Contains(r.output, "#1 天河烟酒行 (440106): 1 case(s) opened, 6 bottles scanned by consumers, rebates 1.20 yuan"));
  CHECK(Contains(r.output, "rule store_owner_out_of_territory, dealer gz-001"));
  CHECK(Contains(r.output, "dealer gz-001: 1 flagged case, 1 scan of evidence; scanned in 31 (1)"));
  CHECK(std::regex_search(r.output, std::regex("shipment 1 to gz-001 on 20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]: "
                                                "1 flagged case, 1 scan of evidence; scanned in 31 \\(1\\)")));
  CHECK(Contains(r.output, " EPCIS events (commissioning, packing, shipping"));
  CHECK(Contains(r.output, "/console/  (log in with the token in "));
  CHECK(std::filesystem::exists(wd / "demo/auditor.token"));
  CHECK(Contains(r.output, "awards recomputed from it, 0 mismatches"));
  CHECK(Contains(r.output, "red packets, "));
}

// The number before `what` on the line starting with `line` ("  database: 15 batches (175 codes), 45 scans").
int64_t CountIn(const std::string& output, const std::string& line, const std::string& what) {
  std::smatch m;
  const std::regex re(line + "[^\n]*?([0-9]+) " + what);
  return std::regex_search(output, m, re) ? std::stoll(m[1].str()) : -1;
}

TEST_CASE("backup copies a serving data directory hot, and restore checks the backup, then brings it back elsewhere") {
  Workdir wd;
  const std::string var = wd / "var";
  // Data: the demo's whole flow on the embedded default.
  const Run demo = Youma("demo --dir " + (wd / "demo") + " --data-dir " + var +
                         " --server 127.0.0.1:0 --http 127.0.0.1:0");
  INFO(demo.output);
  REQUIRE(demo.exit_code == 0);
  std::vector<std::string> bottles;
  {
    std::ifstream csv(wd / "demo/batch-1.csv");
    std::string line;
    std::getline(csv, line);  // header
    while (std::getline(csv, line)) {
      const std::vector<std::string> f = absl::StrSplit(line, ',');
      bottles.insert(bottles.end(), f.begin() + 2, f.end());
    }
  }
  REQUIRE(bottles.size() >= 12);

  // Hot: youma serve runs and consumers scan while the copy is made.
  Serving serving(wd / "serve.log", {"serve", "--data-dir", var, "--listen", "127.0.0.1:0", "--http-listen", "",
                                     "--metrics-listen", ""});
  const std::string address = serving.Address();
  REQUIRE_MESSAGE(!address.empty(), serving.Log());
  const std::string client = "--server " + address + " --token-file " + var + "/admin.token --brand demo-baijiu";
  std::atomic<bool> copying{true};
  std::atomic<int> scanned{0};
  std::thread consumers([&] {
    for (int i = 0; copying || i < 3; ++i) {
      const Run r = Youma(absl::StrCat("scan ", client, " --user backup-u", i, " --region 440106 ",
                                       bottles[i % bottles.size()]));
      if (r.exit_code == 0) ++scanned;
    }
  });
  usleep(300'000);
  const Run hot = Youma("backup --data-dir " + var + " --out " + (wd / "b1"));
  copying = false;
  consumers.join();
  INFO(hot.output);
  REQUIRE(hot.exit_code == 0);
  CHECK(Contains(hot.output, "hot copy"));
  CHECK(Contains(hot.output, "keysets: demo-baijiu"));
  CHECK(Contains(hot.output, "the master key is not in it"));
  CHECK_FALSE(std::filesystem::exists(wd / "b1/master.key"));
  CHECK(std::filesystem::exists(wd / "b1/manifest.json"));
  CHECK_FALSE(std::filesystem::exists(wd / "b1.partial"));
  const int64_t scans_at_copy = CountIn(hot.output, "  database:", "scans");
  CHECK(scans_at_copy > 0);
  REQUIRE(serving.Stop() == 0);
  CHECK(scanned > 0);

  // Offline: the backup starts the data directory's database for the copy.
  const Run cold = Youma("backup --data-dir " + var + " --out " + (wd / "b2") + " --with-secrets");
  INFO(cold.output);
  REQUIRE(cold.exit_code == 0);
  CHECK(Contains(cold.output, "offline copy"));
  CHECK(std::filesystem::exists(wd / "b2/master.key"));
  const int64_t scans_after = CountIn(cold.output, "  database:", "scans");
  CHECK(scans_after >= scans_at_copy);
  CHECK(Youma("backup --data-dir " + var + " --out " + (wd / "b2")).exit_code == 1);  // not over a backup

  // Restore refuses, writing nothing: no key, a wrong key, a changed keyset, not a backup.
  const std::string var2 = wd / "var2";
  Run r = Youma("restore --from " + (wd / "b1") + " --data-dir " + var2);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "give the master key"));
  REQUIRE(Youma("keys new-master-key --out " + (wd / "other.key")).exit_code == 0);
  r = Youma("restore --from " + (wd / "b1") + " --data-dir " + var2 + " --master-key-file " + (wd / "other.key"));
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "not the one the backup's keysets are sealed with"));
  std::filesystem::copy(wd / "b1", wd / "b1x", std::filesystem::copy_options::recursive);
  {
    std::fstream f(wd / "b1x/keysets/demo-baijiu.keyset", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  r = Youma("restore --from " + (wd / "b1x") + " --data-dir " + var2 + " --master-key-file " + var + "/master.key");
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "has changed since it was made"));
  r = Youma("restore --from " + (wd / "b1/mariadb") + " --data-dir " + var2);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "is not a youma backup"));
  CHECK_FALSE(std::filesystem::exists(var2));

  // The hot copy, with the key: every scan answered before the copy began is in it.
  r = Youma("restore --from " + (wd / "b1") + " --data-dir " + var2 + " --master-key-file " + var + "/master.key");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const int64_t restored_scans = CountIn(r.output, "  database:", "scans");
  CHECK(restored_scans >= scans_at_copy);
  CHECK(restored_scans <= scans_after);
  CHECK(CountIn(r.output, "  database:", "batches") == CountIn(hot.output, "  database:", "batches"));
  CHECK(Contains(r.output, "keysets: demo-baijiu"));
  CHECK_FALSE(std::filesystem::exists(var2 + "/master.key"));  // given, not copied
  // Never over a database.
  r = Youma("restore --from " + (wd / "b1") + " --data-dir " + var2 + " --master-key-file " + var + "/master.key");
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "holds a database already"));

  // The offline copy with its secrets: serve runs on it with its own key, the
  // old admin token works, and the audit reads the demo's diversion flag.
  const std::string var3 = wd / "var3";
  r = Youma("restore --from " + (wd / "b2") + " --data-dir " + var3);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(CountIn(r.output, "  database:", "scans") == scans_after);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(slurp(var3 + "/master.key") == slurp(var + "/master.key"));
  Serving restored(wd / "serve3.log", {"serve", "--data-dir", var3, "--listen", "127.0.0.1:0", "--http-listen", "",
                                       "--metrics-listen", ""});
  REQUIRE_MESSAGE(!restored.Address().empty(), restored.Log());
  r = Youma("audit diversion --server " + restored.Address() + " --token-file " + var + "/admin.token --brand demo-baijiu");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "dealer gz-001: 1 flagged case, 1 scan of evidence"));
  CHECK(restored.Stop() == 0);
}

}  // namespace
}  // namespace youma::cli
