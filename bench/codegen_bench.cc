// bench/codegen: tokens generated and verified per second for each scheme, on one
// core and on all cores, beside the raw libsodium primitive measured in the same
// run (keyed BLAKE2b, Ed25519 sign and verify), and their ratio.
//
//   build/bench/codegen_bench            # 1 s per measurement
//   build/bench/codegen_bench --smoke    # a few ms each (CI)
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "codegen/code_format.h"
#include "codegen/keyset.h"

namespace {

using youma::codegen::CodeMinter;
using youma::codegen::CodeVerifier;
using youma::codegen::Keyset;
using youma::codegen::Scheme;
using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> g_sink{0};

// Operations per second of `make()`'s operation, run on `threads` threads for
// about `seconds`. Each thread builds its own operation (its own buffers).
template <class MakeOp>
double Rate(const MakeOp& make, int threads, double seconds) {
  std::atomic<uint64_t> total{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto op = make();
      uint64_t i = static_cast<uint64_t>(t) << 40;
      uint64_t done = 0, acc = 0;
      do {
        for (int k = 0; k < 256; ++k) acc += op(i++);
        done += 256;
      } while (Clock::now() < deadline);
      total += done;
      g_sink += acc;
    });
  }
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(total) / elapsed;
}

struct Row {
  std::string what;
  double one_core;
  double all_cores;
  std::string limit_name;
  double limit_one_core;
  std::string target;
  bool met;
};

std::string Human(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;
      seconds = 0.02;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: codegen_bench [--smoke] [--seconds S]\n");
      return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  absl::StatusOr<Keyset> ks = Keyset::Create({.brand = "Bench"}, absl::Now());
  if (!ks.ok()) return 1;
  const std::string gtin = "06901234567892";
  auto minter = [&](Scheme s) {
    return *CodeMinter::Create(*ks, s, {.prefix = std::nullopt, .gtin = gtin});
  };
  const CodeMinter compact = minter(Scheme::kCompact);
  const CodeMinter signer = minter(Scheme::kSigned);
  const CodeMinter gs1 = minter(Scheme::kGs1);
  const CodeVerifier verifier = CodeVerifier::ForKeyset(*ks);

  // Raw primitives, on the same message sizes the formats authenticate.
  unsigned char mac_key[32], seed[32], pk[32], sk[64];
  randombytes_buf(mac_key, sizeof mac_key);
  randombytes_buf(seed, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
  auto raw_blake2b = [&] {
    return [&](uint64_t i) -> uint64_t {
      unsigned char msg[11] = {1, 2, 3, 4, 5};
      std::memcpy(msg + 5, &i, 6);
      unsigned char out[16];
      crypto_generichash(out, sizeof out, msg, sizeof msg, mac_key, sizeof mac_key);
      return out[0];
    };
  };
  auto raw_sign = [&] {
    return [&](uint64_t i) -> uint64_t {
      unsigned char msg[11] = {2, 2, 3, 4, 5};
      std::memcpy(msg + 5, &i, 6);
      unsigned char sig[64];
      crypto_sign_detached(sig, nullptr, msg, sizeof msg, sk);
      return sig[0];
    };
  };
  unsigned char fixed_msg[11] = {2, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6};
  unsigned char fixed_sig[64];
  crypto_sign_detached(fixed_sig, nullptr, fixed_msg, sizeof fixed_msg, sk);
  auto raw_verify = [&] {
    return [&](uint64_t) -> uint64_t {
      return crypto_sign_verify_detached(fixed_sig, fixed_msg, sizeof fixed_msg, pk) == 0;
    };
  };
  auto mint = [](const CodeMinter& m) {
    return [&m] {
      return [&m, buf = std::string()](uint64_t i) mutable -> uint64_t {
        buf.clear();
        (void)m.AppendToken(i & youma::codegen::kMaxCodeId, &buf);
        return static_cast<uint8_t>(buf[5]);
      };
    };
  };
  // Verification of a fixed pool of genuine codes (parsing included).
  auto verify = [&](const CodeMinter& m) {
    std::vector<std::string> pool;
    for (uint64_t i = 0; i < 1024; ++i) pool.push_back(*m.Url(1000 + i));
    return [&verifier, pool] {
      return [&verifier, &pool](uint64_t i) -> uint64_t {
        return verifier.Verify(pool[i & 1023]).verdict == youma::codegen::Verdict::kGenuine;
      };
    };
  };

  auto both = [&](auto make) {
    return std::pair<double, double>{Rate(make, 1, seconds), Rate(make, cores, seconds)};
  };
  const auto [b2_1, b2_n] = both(raw_blake2b);
  const auto [sign_1, sign_n] = both(raw_sign);
  const auto [ver_1, ver_n] = both(raw_verify);

  std::vector<Row> rows;
  auto add = [&](std::string what, auto make, std::string limit_name, double limit,
                 std::string target, auto check) {
    const auto [one, all] = both(make);
    rows.push_back({std::move(what), one, all, std::move(limit_name), limit, std::move(target),
                    check(one, limit)});
  };
  auto none = [](double, double) { return true; };
  add("compact generate", mint(compact), "BLAKE2b-128 keyed", b2_1, ">= 60% of limit",
      [](double v, double l) { return v >= 0.6 * l; });
  add("compact verify", verify(compact), "BLAKE2b-128 keyed", b2_1, ">= 1M/s per core",
      [](double v, double) { return v >= 1e6; });
  add("signed generate", mint(signer), "Ed25519 sign", sign_1, ">= 90% of limit",
      [](double v, double l) { return v >= 0.9 * l; });
  add("signed verify", verify(signer), "Ed25519 verify", ver_1, "", none);
  add("gs1 generate", mint(gs1), "BLAKE2b-128 keyed", b2_1, "", none);
  add("gs1 verify", verify(gs1), "BLAKE2b-128 keyed", b2_1, "", none);

  std::printf("youma codegen benchmark%s: %d core(s), %.2f s per measurement\n\n",
              smoke ? " (smoke mode: figures are not meaningful)" : "", cores, seconds);
  std::printf("raw libsodium, same run:  BLAKE2b-128 keyed %s/s (1 core) %s/s (%d cores)\n",
              Human(b2_1).c_str(), Human(b2_n).c_str(), cores);
  std::printf("                          Ed25519 sign      %s/s (1 core) %s/s (%d cores)\n",
              Human(sign_1).c_str(), Human(sign_n).c_str(), cores);
  std::printf("                          Ed25519 verify    %s/s (1 core) %s/s (%d cores)\n\n",
              Human(ver_1).c_str(), Human(ver_n).c_str(), cores);
  std::printf("%-18s %12s %12s   %-19s %12s %7s   %-18s %s\n", "operation", "1 core/s",
              "all cores/s", "limit (1 core)", "limit/s", "ratio", "target", "");
  for (const Row& r : rows) {
    std::printf("%-18s %12s %12s   %-19s %12s %6.0f%%   %-18s %s\n", r.what.c_str(),
                Human(r.one_core).c_str(), Human(r.all_cores).c_str(), r.limit_name.c_str(),
                Human(r.limit_one_core).c_str(), 100.0 * r.one_core / r.limit_one_core,
                r.target.c_str(), r.target.empty() ? "" : (r.met ? "met" : "MISSED"));
  }
  return 0;
}
