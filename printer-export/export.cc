#include "printer-export/export.h"

#include <sodium.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "printer-export/qr.h"
#include "services/common/status_macros.h"

namespace youma::printer {
namespace {

constexpr char kPackMagic[] = "YOUMAPK1";
constexpr size_t kPackChunk = 64 * 1024;

std::string Hex(const unsigned char* data, size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.resize(2 * n);
  return out;
}

absl::StatusOr<std::string> Unhex(const std::string& text, size_t bytes, const char* what) {
  std::string out(bytes, '\0');
  size_t len = 0;
  const char* end = nullptr;
  std::string trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), bytes, trimmed.data(),
                     trimmed.size(), nullptr, &len, &end) != 0 ||
      len != bytes || end != trimmed.data() + trimmed.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be ", 2 * bytes, " hex characters"));
  }
  return out;
}

// Byte sink that hashes what it writes; plain file or encrypted pack.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual absl::Status Append(const std::string& data) = 0;
  virtual absl::Status Close() = 0;
  std::string Digest() {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&hash_, d);
    return Hex(d, sizeof d);
  }
  uint64_t bytes() const { return bytes_; }

 protected:
  Sink() { crypto_hash_sha256_init(&hash_); }
  void Hash(const std::string& data) {
    crypto_hash_sha256_update(&hash_, reinterpret_cast<const unsigned char*>(data.data()),
                              data.size());
  }
  crypto_hash_sha256_state hash_;
  uint64_t bytes_ = 0;
};

class FileSink : public Sink {
 public:
  static absl::StatusOr<std::unique_ptr<FileSink>> Open(const std::string& path) {
    auto s = std::unique_ptr<FileSink>(new FileSink());
    s->out_.open(path, std::ios::binary | std::ios::trunc);
    if (!s->out_) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
    s->path_ = path;
    return s;
  }
  absl::Status Append(const std::string& data) override {
    Hash(data);
    bytes_ += data.size();
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out_) return absl::ResourceExhaustedError(absl::StrCat("cannot write ", path_));
    return absl::OkStatus();
  }
  absl::Status Close() override {
    out_.close();
    if (!out_) return absl::ResourceExhaustedError(absl::StrCat("cannot write ", path_));
    return absl::OkStatus();
  }

 private:
  FileSink() = default;
  std::ofstream out_;
  std::string path_;
};

// The pack: magic | crypto_box_seal(stream key) | secretstream header | chunks.
// The digest covers the pack file as written.
class PackSink : public Sink {
 public:
  static absl::StatusOr<std::unique_ptr<PackSink>> Open(const std::string& path,
                                                        const std::string& recipient_hex) {
    YOUMA_ASSIGN_OR_RETURN(std::string pk, Unhex(recipient_hex, crypto_box_PUBLICKEYBYTES,
                                                 "the print house's public key"));
    auto s = std::unique_ptr<PackSink>(new PackSink());
    YOUMA_ASSIGN_OR_RETURN(s->file_, FileSink::Open(path));
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    crypto_secretstream_xchacha20poly1305_keygen(key);
    std::string sealed(crypto_box_SEALBYTES + sizeof key, '\0');
    crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()), key, sizeof key,
                    reinterpret_cast<const unsigned char*>(pk.data()));
    std::string header(crypto_secretstream_xchacha20poly1305_HEADERBYTES, '\0');
    crypto_secretstream_xchacha20poly1305_init_push(
        &s->state_, reinterpret_cast<unsigned char*>(header.data()), key);
    sodium_memzero(key, sizeof key);
    YOUMA_RETURN_IF_ERROR(s->Emit(std::string(kPackMagic) + sealed + header));
    return s;
  }
  absl::Status Append(const std::string& data) override {
    pending_ += data;
    while (pending_.size() >= kPackChunk) {
      YOUMA_RETURN_IF_ERROR(Push(pending_.substr(0, kPackChunk), 0));
      pending_.erase(0, kPackChunk);
    }
    return absl::OkStatus();
  }
  absl::Status Close() override {
    YOUMA_RETURN_IF_ERROR(Push(pending_, crypto_secretstream_xchacha20poly1305_TAG_FINAL));
    sodium_memzero(pending_.data(), pending_.size());
    return file_->Close();
  }

 private:
  PackSink() = default;
  absl::Status Emit(const std::string& data) {
    Hash(data);
    bytes_ += data.size();
    return file_->Append(data);
  }
  absl::Status Push(const std::string& plain, unsigned char tag) {
    std::string cipher(plain.size() + crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    crypto_secretstream_xchacha20poly1305_push(
        &state_, reinterpret_cast<unsigned char*>(cipher.data()), nullptr,
        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nullptr, 0, tag);
    const uint32_t n = static_cast<uint32_t>(cipher.size());
    std::string len(4, '\0');
    for (int i = 0; i < 4; ++i) len[i] = static_cast<char>(n >> (24 - 8 * i));
    return Emit(len + cipher);
  }
  std::unique_ptr<FileSink> file_;
  crypto_secretstream_xchacha20poly1305_state state_;
  std::string pending_;
};

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// csv, txt, jsonl (and pack, which is csv into a PackSink).
class TextWriter : public ExportWriter {
 public:
  TextWriter(std::string format, uint32_t set_size, std::unique_ptr<Sink> sink)
      : format_(std::move(format)), set_size_(set_size), sink_(std::move(sink)) {}

  absl::Status Write(const youma::v1::CodeChunk& chunk) override {
    std::string out;
    if (!header_done_) {
      header_done_ = true;
      if (format_ == "csv") {
        out = set_size_ > 0 ? "case_code_id,case_url,bottle_urls\n" : "code_id,url\n";
      }
    }
    for (const youma::v1::Code& c : chunk.codes()) {
      ++codes_;
      if (format_ == "jsonl") {
        absl::StrAppend(&out, "{\"code_id\":", c.code_id(), ",\"url\":\"", JsonEscape(c.url()),
                        "\",\"is_case\":", c.is_case() ? "true" : "false");
        if (c.case_code_id() != 0) absl::StrAppend(&out, ",\"case_code_id\":", c.case_code_id());
        out += "}\n";
      } else if (set_size_ > 0) {
        if (c.is_case()) {
          if (open_line_) out += "\n";
          absl::StrAppend(&out, format_ == "csv" ? absl::StrCat(c.code_id(), ",") : "", c.url());
          open_line_ = true;
        } else {
          absl::StrAppend(&out, format_ == "csv" ? "," : "\t", c.url());
        }
      } else if (format_ == "csv") {
        absl::StrAppend(&out, c.code_id(), ",", c.url(), "\n");
      } else {
        absl::StrAppend(&out, c.url(), "\n");
      }
    }
    return sink_->Append(out);
  }

  absl::StatusOr<ExportSummary> Finish() override {
    if (open_line_) YOUMA_RETURN_IF_ERROR(sink_->Append("\n"));
    YOUMA_RETURN_IF_ERROR(sink_->Close());
    return ExportSummary{codes_, sink_->Digest(), sink_->bytes()};
  }

 private:
  std::string format_;
  uint32_t set_size_;
  std::unique_ptr<Sink> sink_;
  bool header_done_ = false;
  bool open_line_ = false;
  uint64_t codes_ = 0;
};

// One image per code, rendered by a pool of threads; the digest covers the
// images in code order, whichever thread made them.
class ImageWriter : public ExportWriter {
 public:
  ImageWriter(ExportOptions options) : options_(std::move(options)) {
    crypto_hash_sha256_init(&hash_);
    const int threads = options_.threads > 0
                            ? options_.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ImageWriter() override { Stop(); }

  absl::Status Write(const youma::v1::CodeChunk& chunk) override {
    auto job = std::make_shared<Job>();
    job->codes.assign(chunk.codes().begin(), chunk.codes().end());
    std::unique_lock<std::mutex> lock(mu_);
    // Bound the queue: memory stays a few chunks.
    cv_space_.wait(lock, [&] { return queue_.size() < 4 || !error_.ok(); });
    if (!error_.ok()) return error_;
    queue_.push_back(job);
    order_.push_back(job);
    cv_work_.notify_one();
    Drain(lock);
    return error_;
  }

  absl::StatusOr<ExportSummary> Finish() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_done_.wait(lock, [&] { return (queue_.empty() && busy_ == 0) || !error_.ok(); });
      Drain(lock);
      if (!error_.ok()) return error_;
    }
    Stop();
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&hash_, d);
    return ExportSummary{codes_, Hex(d, sizeof d), bytes_};
  }

 private:
  struct Job {
    std::vector<youma::v1::Code> codes;
    std::vector<std::string> images;
    bool done = false;
  };

  void Work() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = queue_.front();
        queue_.pop_front();
        ++busy_;
        cv_space_.notify_all();
      }
      absl::Status st = Render(*job);
      std::lock_guard<std::mutex> lock(mu_);
      if (!st.ok() && error_.ok()) error_ = st;
      job->done = true;
      --busy_;
      cv_done_.notify_all();
    }
  }

  absl::Status Render(Job& job) {
    for (const youma::v1::Code& c : job.codes) {
      YOUMA_ASSIGN_OR_RETURN(QrSymbol qr,
                             EncodeQr(c.url(), QrEcLevel::kM));
      std::string data;
      if (options_.format == "png") {
        YOUMA_ASSIGN_OR_RETURN(data, RenderPng(qr, options_.module_px));
      } else {
        data = RenderSvg(qr);
      }
      const std::string path =
          (std::filesystem::path(options_.path) / absl::StrCat(c.code_id(), ".", options_.format))
              .string();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!out) return absl::ResourceExhaustedError(absl::StrCat("cannot write ", path));
      job.images.push_back(std::move(data));
    }
    return absl::OkStatus();
  }

  // Hashes finished jobs in order (mu_ held).
  void Drain(std::unique_lock<std::mutex>&) {
    while (!order_.empty() && order_.front()->done) {
      for (const std::string& img : order_.front()->images) {
        crypto_hash_sha256_update(&hash_, reinterpret_cast<const unsigned char*>(img.data()),
                                  img.size());
        bytes_ += img.size();
        ++codes_;
      }
      order_.pop_front();
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }

  ExportOptions options_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_space_, cv_done_;
  std::deque<std::shared_ptr<Job>> queue_, order_;
  std::vector<std::thread> workers_;
  int busy_ = 0;
  bool stop_ = false;
  absl::Status error_;
  crypto_hash_sha256_state hash_;
  uint64_t codes_ = 0, bytes_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExportWriter>> OpenExport(const ExportOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("no output path (--out)");
  if (options.format == "png" || options.format == "svg") {
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create folder ", options.path, ": ", ec.message()));
    }
    return std::unique_ptr<ExportWriter>(new ImageWriter(options));
  }
  if (options.format == "pack") {
    if (options.recipient_public_key_hex.empty()) {
      return absl::InvalidArgumentError(
          "a pack is encrypted to the print house: give its public key (--recipient FILE.pub)");
    }
    YOUMA_ASSIGN_OR_RETURN(auto sink, PackSink::Open(options.path, options.recipient_public_key_hex));
    return std::unique_ptr<ExportWriter>(new TextWriter("csv", options.set_size, std::move(sink)));
  }
  if (options.format == "csv" || options.format == "txt" || options.format == "jsonl") {
    YOUMA_ASSIGN_OR_RETURN(auto sink, FileSink::Open(options.path));
    return std::unique_ptr<ExportWriter>(
        new TextWriter(options.format, options.set_size, std::move(sink)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown export format '", options.format, "': use csv, txt, jsonl, png, svg or pack"));
}

PrinterKeys NewPrinterKeys() {
  unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  PrinterKeys keys{Hex(pk, sizeof pk), Hex(sk, sizeof sk)};
  sodium_memzero(sk, sizeof sk);
  return keys;
}

absl::Status OpenPack(const std::string& pack_path, const std::string& secret_key_hex,
                      const std::string& out_path) {
  YOUMA_ASSIGN_OR_RETURN(std::string sk, Unhex(secret_key_hex, crypto_box_SECRETKEYBYTES,
                                               "the print house's secret key"));
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  crypto_scalarmult_base(pk, reinterpret_cast<const unsigned char*>(sk.data()));
  std::ifstream in(pack_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", pack_path));
  const size_t head = sizeof(kPackMagic) - 1;
  std::string header(head + crypto_box_SEALBYTES +
                         crypto_secretstream_xchacha20poly1305_KEYBYTES +
                         crypto_secretstream_xchacha20poly1305_HEADERBYTES,
                     '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (!in || header.compare(0, head, kPackMagic) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(pack_path, " is not a youma code pack"));
  }
  unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
  const auto* sealed = reinterpret_cast<const unsigned char*>(header.data() + head);
  if (crypto_box_seal_open(key, sealed, crypto_box_SEALBYTES + sizeof key, pk,
                           reinterpret_cast<const unsigned char*>(sk.data())) != 0) {
    return absl::PermissionDeniedError(
        "this pack was not sealed to this key (wrong print-house key, or a modified pack)");
  }
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(
          &state,
          reinterpret_cast<const unsigned char*>(header.data() + head + crypto_box_SEALBYTES +
                                                 sizeof key),
          key) != 0) {
    return absl::DataLossError("the pack's stream header is damaged");
  }
  sodium_memzero(key, sizeof key);
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", out_path));
  for (;;) {
    unsigned char len_bytes[4];
    if (!in.read(reinterpret_cast<char*>(len_bytes), 4)) {
      return absl::DataLossError("the pack is truncated (no final chunk)");
    }
    const uint32_t n = (uint32_t{len_bytes[0]} << 24) | (uint32_t{len_bytes[1]} << 16) |
                       (uint32_t{len_bytes[2]} << 8) | len_bytes[3];
    if (n < crypto_secretstream_xchacha20poly1305_ABYTES || n > kPackChunk + 1024) {
      return absl::DataLossError("the pack is damaged (bad chunk length)");
    }
    std::string cipher(n, '\0');
    if (!in.read(cipher.data(), n)) return absl::DataLossError("the pack is truncated");
    std::string plain(n - crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &state, reinterpret_cast<unsigned char*>(plain.data()), nullptr, &tag,
            reinterpret_cast<const unsigned char*>(cipher.data()), n, nullptr, 0) != 0) {
      return absl::PermissionDeniedError("the pack was modified (a chunk fails authentication)");
    }
    out.write(plain.data(), static_cast<std::streamsize>(plain.size()));
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) break;
  }
  if (in.peek() != std::char_traits<char>::eof()) {
    return absl::DataLossError("the pack has bytes after its final chunk");
  }
  return out.good() ? absl::OkStatus()
                    : absl::ResourceExhaustedError(absl::StrCat("cannot write ", out_path));
}

}  // namespace youma::printer
