#include "benchmarks/common/svg_plot.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PlotSpec TwoModes() {
  PlotSpec spec;
  spec.title = "bytes per idle endpoint";
  spec.x_label = "idle endpoints";
  spec.y_label = "bytes per endpoint";
  spec.subtitle = "heap <interposed malloc> & RSS";
  spec.style_names = {"heap", "RSS", "kernel"};
  spec.series = {{"on_demand", LineStyle::kSolid, {{2000, 700}, {10000, 650}}},
                 {"on_demand", LineStyle::kDashed, {{2000, 1500}, {10000, 1400}}},
                 {"pinned", LineStyle::kSolid, {{10000, 33000}, {2000, 33500}}}};
  return spec;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(SvgPlotTest, DrawsEverySeriesWithLegendAndAxes) {
  std::string svg;
  ASSERT_TRUE(RenderSvgPlot(TwoModes(), &svg).ok());
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(Count(svg, "<polyline"), 3u);
  EXPECT_EQ(Count(svg, "<circle"), 6u);
  EXPECT_THAT(svg, HasSubstr(">idle endpoints</text>"));
  EXPECT_THAT(svg, HasSubstr(">bytes per endpoint</text>"));
  // Legend: each group once, and the styles in use (not "kernel").
  EXPECT_THAT(svg, HasSubstr(">on_demand</text>"));
  EXPECT_THAT(svg, HasSubstr(">pinned</text>"));
  EXPECT_THAT(svg, HasSubstr(">heap</text>"));
  EXPECT_THAT(svg, HasSubstr(">RSS</text>"));
  EXPECT_THAT(svg, Not(HasSubstr(">kernel</text>")));
  // Log axis: decades from 100 to 100k label the y axis.
  EXPECT_THAT(svg, HasSubstr(">100</text>"));
  EXPECT_THAT(svg, HasSubstr(">100k</text>"));
  // Text is escaped.
  EXPECT_THAT(svg, HasSubstr("heap &lt;interposed malloc&gt; &amp; RSS"));
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(SvgPlotTest, ZeroOnALogAxisIsLeftOutAndSaid) {
  PlotSpec spec = TwoModes();
  spec.series.push_back({"tls", LineStyle::kDotted, {{2000, 0}, {10000, 0}}});
  std::string svg;
  ASSERT_TRUE(RenderSvgPlot(spec, &svg).ok());
  EXPECT_EQ(Count(svg, "<polyline"), 3u);
  EXPECT_THAT(svg, HasSubstr("2 zero points not drawn (log scale)"));
}

TEST(SvgPlotTest, RejectsBadInput) {
  std::string svg;
  PlotSpec empty;
  EXPECT_EQ(RenderSvgPlot(empty, &svg).code(), absl::StatusCode::kInvalidArgument);
  PlotSpec no_points = TwoModes();
  no_points.series[1].points.clear();
  EXPECT_EQ(RenderSvgPlot(no_points, &svg).code(), absl::StatusCode::kInvalidArgument);
  PlotSpec nan = TwoModes();
  nan.series[0].points[0].y = NAN;
  EXPECT_EQ(RenderSvgPlot(nan, &svg).code(), absl::StatusCode::kInvalidArgument);
  PlotSpec many = TwoModes();
  many.series.resize(kMaxPlotSeries + 1, many.series[0]);
  EXPECT_EQ(RenderSvgPlot(many, &svg).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SvgPlotTest, WriteFailsOnAnUnwritablePath) {
  EXPECT_EQ(WriteSvgPlot(TwoModes(), "/nonexistent-dir/x.svg").code(),
            absl::StatusCode::kInternal);
}

TEST(SvgPlotTest, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(SvgEscape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
}

}  // namespace
}  // namespace alts::bench
