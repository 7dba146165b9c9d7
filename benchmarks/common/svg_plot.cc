#include "benchmarks/common/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace alts::bench {
namespace {

// Canvas geometry, in SVG user units: the plot area sits inside margins,
// the legend to its right.
constexpr double kWidth = 960;
constexpr double kHeight = 580;
constexpr double kLeft = 96;
constexpr double kRight = 300;  // legend column
constexpr double kTop = 84;  // room for the title and two subtitle lines
constexpr double kBottom = 64;
constexpr int kXTicks = 5;

// kPalette: colours for groups, distinguishable in print and for the common
// forms of colour blindness (Okabe-Ito).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#F0E442"};

const char* DashArray(LineStyle style) {
  switch (style) {
    case LineStyle::kSolid:
      return "";
    case LineStyle::kDashed:
      return " stroke-dasharray=\"9 5\"";
    case LineStyle::kDotted:
      return " stroke-dasharray=\"2 4\"";
  }
  return "";
}

// NiceStep returns a round tick step (1, 2 or 5 times a power of ten) near
// range / ticks.
double NiceStep(double range, int ticks) {
  const double raw = range / ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

// Compact returns 1500 as "1.5k", 20000 as "20k", 2000000 as "2M".
std::string Compact(double v) {
  const char* suffix = "";
  if (std::fabs(v) >= 1e6) {
    v /= 1e6;
    suffix = "M";
  } else if (std::fabs(v) >= 1e3) {
    v /= 1e3;
    suffix = "k";
  }
  std::string s = absl::StrFormat("%.1f", v);
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
  return s + suffix;
}

}  // namespace

std::string SvgEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::Status RenderSvgPlot(const PlotSpec& spec, std::string* svg) {
  if (spec.series.empty()) return absl::InvalidArgumentError("plot: no series");
  if (spec.series.size() > kMaxPlotSeries) {
    return absl::InvalidArgumentError(
        absl::StrCat("plot: ", spec.series.size(), " series, at most ", kMaxPlotSeries));
  }
  double min_x = INFINITY, max_x = -INFINITY, min_y = INFINITY, max_y = -INFINITY;
  int dropped = 0;
  for (const PlotSeries& s : spec.series) {
    if (s.points.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("plot: series '", s.group, "' has no points"));
    }
    for (const PlotPoint& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
        return absl::InvalidArgumentError("plot: non-finite coordinate");
      }
      min_x = std::min(min_x, p.x);
      max_x = std::max(max_x, p.x);
      if (spec.log_y && p.y <= 0) {
        ++dropped;
        continue;
      }
      min_y = std::min(min_y, p.y);
      max_y = std::max(max_y, p.y);
    }
  }
  if (!std::isfinite(min_y)) {  // every y dropped
    min_y = 1;
    max_y = 10;
  }
  // Axes: x from 0 to a round number past the largest x; y in whole decades
  // (log) or from 0 to a round number (linear).
  const double x_step = NiceStep(std::max(max_x, 1.0), kXTicks);
  const double x_max = std::ceil(max_x / x_step) * x_step;
  double y_lo, y_hi;
  if (spec.log_y) {
    y_lo = std::floor(std::log10(min_y));
    y_hi = std::ceil(std::log10(max_y));
    if (y_hi <= y_lo) y_hi = y_lo + 1;
  } else {
    y_lo = 0;
    const double step = NiceStep(std::max(max_y, 1.0), 5);
    y_hi = std::ceil(max_y / step) * step;
  }
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + x / x_max * plot_w; };
  auto py = [&](double y) {
    const double v = spec.log_y ? std::log10(y) : y;
    return kTop + plot_h - (v - y_lo) / (y_hi - y_lo) * plot_h;
  };

  std::string& o = *svg;
  o.clear();
  absl::StrAppendFormat(&o,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                        "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"13\">\n",
                        kWidth, kHeight, kWidth, kHeight);
  absl::StrAppendFormat(&o, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  absl::StrAppendFormat(&o,
                        "<text x=\"%.0f\" y=\"28\" font-size=\"17\" font-weight=\"bold\">%s</text>\n",
                        kLeft, SvgEscape(spec.title));
  std::string subtitle = spec.subtitle;
  if (dropped > 0) {
    absl::StrAppend(&subtitle, subtitle.empty() ? "" : "; ", dropped,
                    " zero points not drawn (log scale)");
  }
  double sub_y = 48;
  for (absl::string_view line : absl::StrSplit(subtitle, '\n')) {
    if (line.empty()) continue;
    absl::StrAppendFormat(&o, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#444\">%s</text>\n",
                          kLeft, sub_y, SvgEscape(line));
    sub_y += 15;
  }
  // Grid and tick labels.
  o += "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
  for (double x = 0; x <= x_max + x_step / 2; x += x_step) {
    absl::StrAppendFormat(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(x),
                          kTop, px(x), kTop + plot_h);
  }
  if (spec.log_y) {
    for (double d = y_lo; d <= y_hi; d += 1) {
      for (int m = 1; m < 10 && d + std::log10(m) <= y_hi; ++m) {
        const double y = py(std::pow(10.0, d) * m);
        absl::StrAppendFormat(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"%s/>\n",
                              kLeft, y, kLeft + plot_w, y, m == 1 ? "" : " stroke=\"#f0f0f0\"");
      }
    }
  } else {
    const double step = NiceStep(y_hi, 5);
    for (double y = 0; y <= y_hi + step / 2; y += step) {
      absl::StrAppendFormat(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", kLeft,
                            py(y), kLeft + plot_w, py(y));
    }
  }
  o += "</g>\n<g fill=\"#222\">\n";
  for (double x = 0; x <= x_max + x_step / 2; x += x_step) {
    absl::StrAppendFormat(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          px(x), kTop + plot_h + 18, Compact(x));
  }
  if (spec.log_y) {
    for (double d = y_lo; d <= y_hi; d += 1) {
      absl::StrAppendFormat(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                            kLeft - 8, py(std::pow(10.0, d)) + 4, Compact(std::pow(10.0, d)));
    }
  } else {
    const double step = NiceStep(y_hi, 5);
    for (double y = 0; y <= y_hi + step / 2; y += step) {
      absl::StrAppendFormat(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                            kLeft - 8, py(y) + 4, Compact(y));
    }
  }
  o += "</g>\n";
  absl::StrAppendFormat(&o,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"#222\"/>\n",
                        kLeft, kTop, plot_w, plot_h);
  absl::StrAppendFormat(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                        kLeft + plot_w / 2, kHeight - 18, SvgEscape(spec.x_label));
  absl::StrAppendFormat(&o,
                        "<text transform=\"translate(22 %.1f) rotate(-90)\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        kTop + plot_h / 2, SvgEscape(spec.y_label));

  // Lines, one colour per group in order of first appearance.
  std::map<std::string, size_t> colour_of;
  std::vector<std::string> groups;
  for (const PlotSeries& s : spec.series) {
    if (colour_of.emplace(s.group, groups.size()).second) groups.push_back(s.group);
  }
  for (const PlotSeries& s : spec.series) {
    std::vector<PlotPoint> pts = s.points;
    std::sort(pts.begin(), pts.end(),
              [](const PlotPoint& a, const PlotPoint& b) { return a.x < b.x; });
    const char* colour = kPalette[colour_of[s.group] % std::size(kPalette)];
    std::string path;
    for (const PlotPoint& p : pts) {
      if (spec.log_y && p.y <= 0) continue;
      absl::StrAppendFormat(&path, "%s%.1f,%.1f", path.empty() ? "" : " ", px(p.x), py(p.y));
    }
    if (path.empty()) continue;
    absl::StrAppendFormat(&o,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s>"
                          "<title>%s</title></polyline>\n",
                          path, colour, DashArray(s.style), SvgEscape(s.group));
    for (const PlotPoint& p : pts) {
      if (spec.log_y && p.y <= 0) continue;
      absl::StrAppendFormat(&o,
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s: %s at "
                            "%s</title></circle>\n",
                            px(p.x), py(p.y), colour, SvgEscape(s.group), Compact(p.y),
                            Compact(p.x));
    }
  }

  // Legend: groups (colours), then styles (figures).
  double ly = kTop + 6;
  const double lx = kWidth - kRight + 24;
  for (size_t i = 0; i < groups.size(); ++i) {
    absl::StrAppendFormat(&o,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"4\"/>\n<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          lx, ly, lx + 26, ly, kPalette[i % std::size(kPalette)], lx + 34, ly + 4,
                          SvgEscape(groups[i]));
    ly += 20;
  }
  ly += 10;
  const LineStyle styles[] = {LineStyle::kSolid, LineStyle::kDashed, LineStyle::kDotted};
  for (size_t i = 0; i < spec.style_names.size() && i < std::size(styles); ++i) {
    bool used = false;
    for (const PlotSeries& s : spec.series) used |= s.style == styles[i];
    if (!used) continue;
    absl::StrAppendFormat(&o,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                          "stroke-width=\"2\"%s/>\n<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          lx, ly, lx + 26, ly, DashArray(styles[i]), lx + 34, ly + 4,
                          SvgEscape(spec.style_names[i]));
    ly += 20;
  }
  o += "</svg>\n";
  return absl::OkStatus();
}

absl::Status WriteSvgPlot(const PlotSpec& spec, const std::string& path) {
  std::string svg;
  if (absl::Status s = RenderSvgPlot(spec, &svg); !s.ok()) return s;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot write ", path));
  const bool ok = std::fwrite(svg.data(), 1, svg.size(), f) == svg.size();
  if (std::fclose(f) != 0 || !ok) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace alts::bench
