#include "services/web/scan_page.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "services/common/time_util.h"

namespace youma::web {
namespace {

// One small stylesheet, inline: the page is one request.
constexpr char kStyle[] =
    "body{font-family:-apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;background:#f6f6f4;"
    "color:#222}main{max-width:28rem;margin:0 auto;padding:1.5rem}.verdict{font-size:3rem;font-weight:700;"
    "margin:1rem 0 .25rem}.ok{color:#137333}.bad{color:#c5221f}.warn{color:#b06000}.card{background:#fff;"
    "border-radius:12px;padding:1rem 1.25rem;margin:1rem 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    ".muted{color:#666;font-size:.9rem}.prize{font-size:1.4rem;font-weight:600;color:#c5221f}"
    "a.button{display:block;text-align:center;background:#07c160;color:#fff;text-decoration:none;"
    "padding:.9rem;border-radius:8px;font-size:1.1rem;margin-top:1.5rem}footer{font-size:.8rem;color:#888;"
    "text-align:center;margin-top:2rem}footer a{color:#888}";

const char* T(Lang lang, const char* zh, const char* en) { return lang == Lang::kZh ? zh : en; }

std::string Head(Lang lang, const std::string& title) {
  return absl::StrCat("<!doctype html><html lang=\"", T(lang, "zh-CN", "en"),
                      "\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
                      "content=\"width=device-width,initial-scale=1\"><title>",
                      HtmlEscape(title), "</title><style>", kStyle, "</style></head><body><main>");
}

std::string Region(const ResultView& view, const std::string& adcode) {
  if (adcode.empty() || adcode == "000000") return T(view.lang, "未知地区", "an unknown region");
  return view.regions != nullptr ? view.regions->Name(adcode) : adcode;
}

std::string Yuan(int64_t fen) { return absl::StrFormat("%d.%02d", fen / 100, fen % 100); }

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string LandingPage(Lang lang, const std::string& scan_id, const std::string& nonce) {
  // The scan id makes a reload (or a second tap) the same scan, answered once.
  const std::string query = absl::StrCat("?r=1&sid=", scan_id, lang == Lang::kEn ? "&lang=en" : "");
  return absl::StrCat(
      Head(lang, T(lang, "正在验证…", "Checking…")), "<noscript><meta http-equiv=\"refresh\" content=\"0;url=",
      query, "\"></noscript><p class=\"verdict\" id=\"checking\">", T(lang, "正在验证…", "Checking…"),
      "</p><p class=\"muted\">",
      T(lang, "允许定位可让品牌核实产品的销售区域；拒绝也可以查看结果。",
        "Sharing your location helps the brand check where its products are sold; you see the result either way."),
      "</p><script nonce=\"", nonce, "\">(function(){var q='", query,
      "',done=false;function go(p){if(done)return;done=true;location.replace(q+(p?'&lat='+p.coords.latitude.toFixed(6)+"
      "'&lng='+p.coords.longitude.toFixed(6):''));}setTimeout(function(){go(null)},4000);"
      "if(navigator.geolocation){navigator.geolocation.getCurrentPosition(go,function(){go(null)},"
      "{timeout:3500,maximumAge:600000});}else{go(null);}})();</script></main></body></html>");
}

std::string ResultPage(const youma::v1::ScanAnswer& a, const ResultView& view) {
  const Lang lang = view.lang;
  std::string verdict, css;
  switch (a.verdict()) {
    case youma::v1::SCAN_VERDICT_GENUINE: verdict = T(lang, "正品", "Genuine"); css = "ok"; break;
    case youma::v1::SCAN_VERDICT_COUNTERFEIT: verdict = T(lang, "假冒", "Counterfeit"); css = "bad"; break;
    case youma::v1::SCAN_VERDICT_REVOKED: verdict = T(lang, "已撤销", "Revoked"); css = "bad"; break;
    case youma::v1::SCAN_VERDICT_NOT_ACTIVE: verdict = T(lang, "未激活", "Not activated"); css = "warn"; break;
    case youma::v1::SCAN_VERDICT_FROZEN: verdict = T(lang, "已冻结", "Frozen"); css = "warn"; break;
    default: verdict = "?"; css = "warn";
  }
  std::string out = Head(lang, verdict);
  absl::StrAppend(&out, "<p class=\"verdict ", css, "\" data-verdict=\"", css, "\">", verdict, "</p>");
  if (a.verdict() == youma::v1::SCAN_VERDICT_COUNTERFEIT) {
    absl::StrAppend(&out, "<div class=\"card\"><p>",
                    T(lang, "这不是品牌发出的防伪码。请勿饮用，并向品牌或市场监管部门反映。",
                      "This code was not issued by the brand. Do not consume the product; please report it to "
                      "the brand or the market regulator."),
                    "</p></div>");
  } else {
    absl::StrAppend(&out, "<div class=\"card\"><p><strong>", HtmlEscape(a.product_name()),
                    "</strong></p><p class=\"muted\">GTIN ", HtmlEscape(a.gtin()), "</p>");
    const auto& h = a.history();
    const std::string first =
        absl::FormatTime("%Y-%m-%d %H:%M", common::FromProtoTime(h.first_scan_time()), common::ChinaTime());
    if (h.first_scan()) {
      absl::StrAppend(&out, "<p id=\"history\">", T(lang, "首次扫码：此前无人扫过这个码。", "First scan: nobody has scanned this code before."),
                      "</p>");
    } else if (lang == Lang::kZh) {
      absl::StrAppend(&out, "<p id=\"history\">此码已被扫描 ", h.scan_count(), " 次，首次于 ", first, " 在",
                      HtmlEscape(Region(view, h.first_region())), "。</p>");
    } else {
      absl::StrAppend(&out, "<p id=\"history\">Scanned ", h.scan_count(), " times, first on ", first, " in ",
                      HtmlEscape(Region(view, h.first_region())), ".</p>");
    }
    if (a.store().store_id() != 0) {
      absl::StrAppend(&out, "<p class=\"muted\">", T(lang, "售出门店：", "Sold by: "),
                      HtmlEscape(a.store().store_name()), "</p>");
    }
    absl::StrAppend(&out, "</div>");
  }
  absl::StrAppend(&out, "<div class=\"card\" id=\"reward\">");
  if (!a.rewards().empty()) {
    for (const auto& r : a.rewards()) {
      absl::StrAppend(&out, "<p class=\"prize\">",
                      lang == Lang::kZh ? absl::StrCat("恭喜！获得 ", Yuan(r.amount_fen()), " 元红包")
                                        : absl::StrCat("You won a ", Yuan(r.amount_fen()), " yuan red packet!"),
                      "</p><p class=\"muted\">", HtmlEscape(r.tier_name()), " · ",
                      T(lang, "兑奖号 ", "award "), HtmlEscape(r.award_id().substr(0, 12)), "</p>");
    }
  } else {
    absl::StrAppend(&out, "<p>", T(lang, "本次没有红包", "No red packet this time"), "</p><p class=\"muted\">",
                    HtmlEscape(a.no_reward_reason()), "</p>");
  }
  absl::StrAppend(&out, "</div>");
  if (!view.miniprogram_url.empty()) {
    absl::StrAppend(&out, "<a class=\"button\" href=\"", HtmlEscape(view.miniprogram_url), "\">",
                    T(lang, "进入品牌小程序领取与查看", "Continue in the brand's mini-program"), "</a>");
  }
  absl::StrAppend(&out, "<footer>", T(lang, "优码 · 一物一码防伪溯源", "youma · one item, one code"));
  if (!view.other_lang_url.empty()) {
    absl::StrAppend(&out, " · <a href=\"", HtmlEscape(view.other_lang_url), "\">", T(lang, "English", "中文"), "</a>");
  }
  absl::StrAppend(&out, "</footer></main></body></html>");
  return out;
}

std::string NotACodePage(Lang lang, const std::string& problem) {
  return absl::StrCat(Head(lang, T(lang, "无法识别", "Not a code")), "<p class=\"verdict bad\">",
                      T(lang, "无法识别的码", "Not a youma code"), "</p><div class=\"card\"><p>",
                      T(lang, "请确认扫描的是产品上的二维码。", "Please scan the QR code on the product."),
                      "</p><p class=\"muted\">", HtmlEscape(problem), "</p></div></main></body></html>");
}

}  // namespace youma::web
