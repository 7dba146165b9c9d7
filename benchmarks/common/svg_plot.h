#ifndef ALTS_BENCHMARKS_COMMON_SVG_PLOT_H_
#define ALTS_BENCHMARKS_COMMON_SVG_PLOT_H_

// A dependency-free line chart written as SVG text, for benchmark programs
// that draw their results (idle_memory --plot). Lines are grouped: every
// series has a group (drawn in the group's colour, e.g. one per mode) and a
// style (solid, dashed or dotted, e.g. one per figure), and the legend lists
// both. The y axis can be logarithmic, for figures that span decades.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace alts::bench {

// LineStyle is how a series' line is drawn.
enum class LineStyle { kSolid, kDashed, kDotted };

// PlotPoint is one (x, y) sample.
struct PlotPoint {
  double x = 0;
  double y = 0;
};

// PlotSeries is one line: its points (drawn in order of x), the group that
// gives its colour and the style that tells its figure apart.
struct PlotSeries {
  std::string group;
  LineStyle style = LineStyle::kSolid;
  std::vector<PlotPoint> points;
};

// PlotSpec describes the whole chart.
struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  // log_y draws y on a log10 scale (every y must then be > 0; points with
  // y <= 0 are left out of their line and counted in the subtitle).
  bool log_y = true;
  // subtitle is smaller text under the title (what was measured); '\n'
  // starts a new line (two fit).
  std::string subtitle;
  // style_names names each LineStyle in the legend (index = LineStyle).
  std::vector<std::string> style_names;
  std::vector<PlotSeries> series;
};

// kMaxPlotSeries bounds the series of one chart: beyond it the colours
// repeat and the legend no longer fits.
inline constexpr size_t kMaxPlotSeries = 48;

// RenderSvgPlot returns the chart as a standalone SVG document. Returns
// kInvalidArgument for no series, more than kMaxPlotSeries, a series
// without points, or non-finite coordinates.
absl::Status RenderSvgPlot(const PlotSpec& spec, std::string* svg);

// WriteSvgPlot renders the chart and writes it to `path`. Returns the
// render error or kInternal if the file cannot be written.
absl::Status WriteSvgPlot(const PlotSpec& spec, const std::string& path);

// SvgEscape returns `text` with &, <, >, " and ' replaced by entities.
std::string SvgEscape(absl::string_view text);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_SVG_PLOT_H_
