#include "services/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace youma::common {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::Status WriteFileAtomic(const std::string& path, absl::string_view data, int mode) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::ResourceExhaustedError(absl::StrCat("cannot write ", path, ": ", why));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", why));
  }
  return absl::OkStatus();
}

absl::StatusOr<codegen::MasterKey> LoadMasterKey(const std::string& master_key_file) {
  if (!master_key_file.empty()) {
    YOUMA_ASSIGN_OR_RETURN(std::string text, ReadFile(master_key_file));
    absl::StatusOr<codegen::MasterKey> key = codegen::ParseMasterKey(text);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("master key file ", master_key_file, ": ", key.status().message()));
    }
    return key;
  }
  const char* env = std::getenv(kMasterKeyEnv);
  if (env == nullptr || *env == '\0') {
    return absl::FailedPreconditionError(absl::StrCat(
        "no master key: pass --master-key-file FILE or set ", kMasterKeyEnv,
        " (make one with `youma keys new-master-key --out FILE`)"));
  }
  absl::StatusOr<codegen::MasterKey> key = codegen::ParseMasterKey(env);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMasterKeyEnv, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<codegen::Keyset> LoadKeyset(const std::string& path,
                                           const codegen::MasterKey& master_key) {
  YOUMA_ASSIGN_OR_RETURN(std::string sealed, ReadFile(path));
  absl::StatusOr<codegen::Keyset> keyset = codegen::OpenKeyset(sealed, master_key);
  if (!keyset.ok()) {
    return absl::Status(keyset.status().code(),
                        absl::StrCat("keyset ", path, ": ", keyset.status().message()));
  }
  return keyset;
}

absl::Status SaveKeyset(const std::string& path, const codegen::Keyset& keyset,
                        const codegen::MasterKey& master_key) {
  return WriteFileAtomic(path, codegen::SealKeyset(keyset, master_key), 0600);
}

}  // namespace youma::common
