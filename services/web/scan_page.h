// The page a printed QR code opens in a phone's browser: no framework, a few
// kilobytes. Two steps: the first page asks for the phone's location (a few
// seconds at most) and comes back with it; the second records the scan and
// shows the answer. Without JavaScript the first page comes back at once and
// the scan counts at IP level. Chinese by default, English on request.
//
//   std::string html = LandingPage(lang, scan_id, nonce);
//   std::string html = ResultPage(answer, view);
//
// Everything from outside (product and store names, regions, reasons) is
// HTML-escaped.
#pragma once

#include <string>

#include "services/web/regions.h"
#include "youma/v1/scan.pb.h"

namespace youma::web {

enum class Lang { kZh, kEn };

std::string HtmlEscape(const std::string& text);

// Step 1: asks for the location, then reloads with ?r=1&sid=…[&lat=…&lng=…].
// `nonce` is the Content-Security-Policy nonce of its one inline script.
std::string LandingPage(Lang lang, const std::string& scan_id, const std::string& nonce);

struct ResultView {
  Lang lang = Lang::kZh;
  const Regions* regions = nullptr;  // names for adcodes (may be null)
  std::string miniprogram_url;       // the "continue in the mini-program" button
  std::string other_lang_url;        // the same page in the other language
};

// Step 2: the answer to the recorded scan.
std::string ResultPage(const youma::v1::ScanAnswer& answer, const ResultView& view);

// A page for a code that is not a youma code at all (400).
std::string NotACodePage(Lang lang, const std::string& problem);

}  // namespace youma::web
