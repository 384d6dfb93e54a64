#include "codegen/keyset_file.h"

#include <sodium.h>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace youma::codegen {

MasterKey NewMasterKey() { return MasterKey{SecretBytes::Random(kMasterKeySize)}; }

absl::StatusOr<MasterKey> ParseMasterKey(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() != 2 * kMasterKeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a master key is 64 hex characters (32 bytes); this one has ", text.size(),
        " characters. Make one with `youma keys new-master-key --out FILE`"));
  }
  MasterKey key{SecretBytes::Random(kMasterKeySize)};
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(key.bytes.mutable_data(SecretKeyAccess::Grant()), kMasterKeySize,
                     text.data(), text.size(), nullptr, &len, &end) != 0 ||
      len != kMasterKeySize || end != text.data() + text.size()) {
    return absl::InvalidArgumentError(
        "the master key must be 64 hex characters (0-9, a-f); it holds something else");
  }
  return key;
}

std::string MasterKeyText(const MasterKey& key, SecretKeyAccess access) {
  std::string hex(2 * kMasterKeySize + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.bytes.data(access), key.bytes.size());
  hex.back() = '\n';
  return hex;
}

std::string SealKeyset(const Keyset& keyset, const MasterKey& master_key) {
  const SecretKeyAccess access = SecretKeyAccess::Grant();
  std::string plain;
  keyset.ToProto(access).SerializeToString(&plain);
  std::string out(kKeysetMagic);
  out.resize(kKeysetMagic.size() + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
             plain.size());
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + kKeysetMagic.size());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        master_key.bytes.data(access));
  sodium_memzero(plain.data(), plain.size());
  return out;
}

absl::StatusOr<Keyset> OpenKeyset(absl::string_view sealed, const MasterKey& master_key) {
  const size_t header = kKeysetMagic.size() + crypto_secretbox_NONCEBYTES;
  if (!absl::StartsWith(sealed, kKeysetMagic)) {
    return absl::InvalidArgumentError(
        "not a youma keyset file (it does not start with YOUMAKS1); was it made by "
        "`youma keys create`?");
  }
  if (sealed.size() <= header + crypto_secretbox_MACBYTES) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the keyset file is truncated: ", sealed.size(), " bytes, fewer than the ",
        header + crypto_secretbox_MACBYTES, " of an empty keyset"));
  }
  if (master_key.bytes.size() != kMasterKeySize) {
    return absl::InvalidArgumentError("the master key must be 32 bytes");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + kKeysetMagic.size());
  const size_t cipher_len = sealed.size() - header;
  SecretBytes plain = SecretBytes::Random(cipher_len - crypto_secretbox_MACBYTES);
  const SecretKeyAccess access = SecretKeyAccess::Grant();
  if (crypto_secretbox_open_easy(plain.mutable_data(access), nonce + crypto_secretbox_NONCEBYTES,
                                 cipher_len, nonce, master_key.bytes.data(access)) != 0) {
    return absl::PermissionDeniedError(
        "cannot open the keyset: the master key is wrong, or the file was modified or "
        "truncated (authentication failed)");
  }
  youma::v1::Keyset proto;
  if (!proto.ParseFromArray(plain.data(access), static_cast<int>(plain.size()))) {
    return absl::DataLossError("the keyset decrypted but does not parse as a youma keyset");
  }
  absl::StatusOr<Keyset> keyset = Keyset::FromProto(proto);
  for (auto& k : *proto.mutable_keys()) {
    sodium_memzero(k.mutable_secret()->data(), k.secret().size());
  }
  if (!keyset.ok()) {
    return absl::DataLossError(
        absl::StrCat("the keyset decrypted but is invalid: ", keyset.status().message()));
  }
  return keyset;
}

std::string PublicKeysetToJson(const youma::v1::PublicKeyset& keyset) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(keyset, &json, options);
  return json;
}

absl::StatusOr<youma::v1::PublicKeyset> PublicKeysetFromJson(absl::string_view json) {
  youma::v1::PublicKeyset keyset;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &keyset);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a youma public keyset (JSON from `youma keys export-public`): ",
                     status.message().as_string()));
  }
  if (keyset.brand().empty()) {
    return absl::InvalidArgumentError("the public keyset names no brand");
  }
  return keyset;
}

}  // namespace youma::codegen
