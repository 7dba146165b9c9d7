// The hpack-test-case corpus (tests/data/hpack-test-case): every case of
// every implementation's stories decodes to exactly its header list, and our
// encoder's output for every raw-data story decodes to the same lists with
// our decoder and with nghttp2's inflater, at several table sizes.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "tests/http2/hpack_nghttp2_oracle.h"
#include "tests/http2/hpack_test_util.h"
#include "tools/hpack_conformance/story.h"

namespace alts::hpack {
namespace {

namespace fs = std::filesystem;

const std::string kCorpus = std::string(ALTS_TEST_DATA_DIR) + "/hpack-test-case";

// kCorpusCases is the number of encoded cases in the committed corpus (six
// implementations' stories), so that a lost folder cannot pass unnoticed.
constexpr size_t kCorpusCases = 20187;

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> StoryFiles(const std::string& folder) {
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(folder)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  return Sorted(files);
}

std::vector<std::string> ImplementationFolders() {
  std::vector<std::string> folders;
  for (const fs::directory_entry& e : fs::directory_iterator(kCorpus)) {
    if (e.is_directory() && e.path().filename() != "raw-data") folders.push_back(e.path().string());
  }
  return Sorted(folders);
}

TEST(HpackCorpus, EveryCaseOfEveryImplementationDecodesToItsList) {
  const std::vector<std::string> folders = ImplementationFolders();
  ASSERT_EQ(folders.size(), 6u);
  size_t total = 0;
  for (const std::string& folder : folders) {
    SCOPED_TRACE(folder);
    size_t folder_cases = 0;
    const std::vector<std::string> files = StoryFiles(folder);
    ASSERT_GE(files.size(), 31u);
    for (const std::string& file : files) {
      absl::StatusOr<story::Story> s = story::Load(file);
      ASSERT_TRUE(s.ok()) << s.status();
      const story::Result r = story::CheckDecode(*s);
      EXPECT_EQ(r.cases, s->cases.size()) << file << ": a case without wire";
      EXPECT_EQ(r.ok, r.cases) << (r.mismatches.empty() ? "" : r.mismatches[0]);
      folder_cases += r.ok;
    }
    std::printf("%s: %zu cases decoded\n", fs::path(folder).filename().c_str(), folder_cases);
    total += folder_cases;
  }
  EXPECT_EQ(total, kCorpusCases);
}

// TableSetup is one table configuration for the round trip: the encoder's
// own cap, the decoder's advertised SETTINGS_HEADER_TABLE_SIZE and Huffman.
struct TableSetup {
  const char* name;
  uint32_t encoder_cap;
  uint32_t settings;
  bool huffman;
};

class HpackCorpusRoundTrip : public ::testing::TestWithParam<TableSetup> {};

TEST_P(HpackCorpusRoundTrip, OurEncodingDecodesIdenticallyWithOursAndNghttp2) {
  const TableSetup& setup = GetParam();
  const std::vector<std::string> files = StoryFiles(kCorpus + "/raw-data");
  ASSERT_EQ(files.size(), 32u);
  size_t cases = 0, raw_bytes = 0, encoded_bytes = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    absl::StatusOr<story::Story> s = story::Load(file);
    ASSERT_TRUE(s.ok()) << s.status();
    Encoder encoder(setup.encoder_cap);
    encoder.SetUseHuffman(setup.huffman);
    encoder.SetPeerMaxTableSize(setup.settings);
    Decoder decoder(setup.settings);
    testing::NghttpInflater nghttp2;
    if (setup.settings != kDefaultHeaderTableSize) nghttp2.SetMaxTableSize(setup.settings);
    for (const story::Case& c : s->cases) {
      SCOPED_TRACE(c.seqno);
      const std::vector<HeaderField> fields = testing::Fields(c.headers);
      const std::vector<uint8_t> block = testing::EncodeList(encoder, fields);
      testing::HeaderList ours, theirs;
      ASSERT_TRUE(testing::DecodeList(decoder, block, &ours).ok());
      ASSERT_EQ(ours, c.headers);
      absl::Status st = nghttp2.Inflate(block, &theirs);
      ASSERT_TRUE(st.ok()) << st;
      ASSERT_EQ(theirs, c.headers);
      ASSERT_EQ(decoder.table_size(), encoder.table_size());
      ASSERT_LE(encoder.table_size(), encoder.max_table_size());
      for (const auto& [n, v] : c.headers) raw_bytes += n.size() + v.size();
      encoded_bytes += block.size();
      ++cases;
    }
  }
  EXPECT_EQ(cases, 3384u);
  std::printf("%s: %zu cases, %zu bytes of names and values encoded in %zu (%.1f%%)\n",
              setup.name, cases, raw_bytes, encoded_bytes, 100.0 * encoded_bytes / raw_bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Tables, HpackCorpusRoundTrip,
    ::testing::Values(TableSetup{"Default4096", 4096, 4096, true},
                      TableSetup{"Default4096Raw", 4096, 4096, false},
                      TableSetup{"Own256", 256, 4096, true},
                      TableSetup{"PeerLowers1024", 4096, 1024, true},
                      TableSetup{"Large16384", 16384, 16384, true},
                      TableSetup{"NoTable", 4096, 0, true}),
    [](const ::testing::TestParamInfo<TableSetup>& info) { return info.param.name; });

}  // namespace
}  // namespace alts::hpack
