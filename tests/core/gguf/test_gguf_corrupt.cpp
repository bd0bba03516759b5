// Hostile input: every corrupt variant from corrupt_gguf.cpp, every truncation of a small valid
// file, and random byte flips must end in hearth::FormatError (never a crash, never another
// exception type), with a message that names the broken thing.
#include <QTest>

#include <chrono>
#include <cstdio>
#include <random>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "tests/core/gguf/corrupt_gguf.h"

using namespace hearth;
using namespace hearth::gguf;

namespace {

// Parses `bytes`; returns the FormatError message, or "" if it parsed. Other exceptions escape.
std::string parse_error(std::vector<uint8_t> bytes, const Limits& limits = {}) {
  try {
    GgufFile file = GgufFile::from_bytes(std::move(bytes), limits);
    for (const TensorInfo& t : file.tensors()) (void)file.tensor_data(t);
    return "";
  } catch (const FormatError& e) {
    return e.what();
  }
}

}  // namespace

class TestGgufCorrupt : public QObject {
  Q_OBJECT
 private slots:
  // Without this, every corrupt case below could pass by the base itself being broken.
  void baseFileIsValid() {
    const std::string error = parse_error(testing::small_valid_gguf());
    QVERIFY2(error.empty(), error.c_str());
    GgufFile file = GgufFile::from_bytes(testing::small_valid_gguf());
    QCOMPARE(file.tensors().size(), size_t{3});
    QCOMPARE(*file.get_string("general.architecture"), std::string("llama"));
    const auto tokens = *file.get_string_array("tokenizer.ggml.tokens");
    QCOMPARE(tokens.size(), size_t{8});
    QCOMPARE(tokens[7], std::string("tok7"));
    QCOMPARE(*file.get_float_array("tokenizer.ggml.scores"), (std::vector<float>{0, -0.5f, -1, -1.5f, -2, -2.5f, -3, -3.5f}));
    QCOMPARE(*file.get_uint("tokenizer.ggml.padding_token_id"), uint64_t{0xFFFFFFFFu});
    QCOMPARE(*file.get_bool("test.flag"), true);
    // test.nested: [[[7]]]
    const Value* nested = file.find("test.nested");
    QVERIFY(nested != nullptr);
    const auto& l1 = std::get<Array>(nested->data);
    QCOMPARE(l1.element_type, ValueType::kArray);
    const auto& l2 = std::get<Array>(l1.items.at(0).data);
    const auto& l3 = std::get<Array>(l2.items.at(0).data);
    QCOMPARE(l3.element_type, ValueType::kUint8);
    QCOMPARE(std::get<uint8_t>(l3.items.at(0).data), uint8_t{7});
    // The data pattern of RawGguf::encode: byte i of the data section is i*7+1.
    const auto q = file.tensor_data(*file.find_tensor("blk.0.attn_q.weight"));
    QCOMPARE(q.size(), size_t{68});
    QCOMPARE(q[0], static_cast<uint8_t>(1024 * 7 + 1));
  }

  void versionTwoIsAccepted() {
    auto raw = testing::small_valid_raw();
    raw.version = 2;
    GgufFile file = GgufFile::from_bytes(raw.encode());
    QCOMPARE(file.version(), 2u);
  }

  void everyCorruptCaseThrowsFormatError() {
    const auto cases = testing::make_corrupt_cases();
    QVERIFY2(cases.size() >= 30, "the generator should cover at least 30 variants");
    int failures = 0;
    for (const auto& c : cases) {
      const std::string error = parse_error(c.bytes);
      bool ok = !error.empty();
      for (const std::string& word : c.expect) ok = ok && error.find(word) != std::string::npos;
      if (!ok) {
        ++failures;
        std::fprintf(stderr, "case %s: message \"%s\" lacks an expected word\n", c.name.c_str(), error.c_str());
      }
    }
    std::fprintf(stderr, "%zu corrupt cases checked\n", cases.size());
    QCOMPARE(failures, 0);
  }

  void everyTruncationThrows() {
    const auto valid = testing::small_valid_gguf();
    for (size_t size = 0; size < valid.size(); ++size) {
      const std::string error = parse_error(std::vector<uint8_t>(valid.begin(), valid.begin() + size));
      QVERIFY2(!error.empty(), ("truncation to " + std::to_string(size) + " bytes parsed").c_str());
    }
  }

  // Random single and multi-byte corruptions: any outcome but FormatError or success is a bug
  // (under ASan/UBSan this also catches out-of-bounds reads and overflow).
  void randomCorruptionNeverCrashes() {
    const auto seed = std::random_device{}();
    std::fprintf(stderr, "seed %u\n", seed);
    std::mt19937 rng(seed);
    const auto valid = testing::small_valid_gguf();
    std::uniform_int_distribution<size_t> pos(0, valid.size() - 1);
    int rejected = 0;
    for (int i = 0; i < 3000; ++i) {
      auto bytes = valid;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) bytes[pos(rng)] = static_cast<uint8_t>(rng());
      rejected += parse_error(std::move(bytes)).empty() ? 0 : 1;
    }
    QVERIFY(rejected > 0);
  }

  void limitsAreApplied() {
    Limits tight;
    tight.max_string_bytes = 8;  // "tokenizer.ggml.tokens" is longer
    QVERIFY(parse_error(testing::small_valid_gguf(), tight).find("limit of 8 bytes") != std::string::npos);
    tight = {};
    tight.max_array_items = 4;
    QVERIFY(parse_error(testing::small_valid_gguf(), tight).find("exceeds the limit of 4") != std::string::npos);
    tight = {};
    tight.max_array_depth = 2;  // test.nested is 3 deep
    QVERIFY(parse_error(testing::small_valid_gguf(), tight).find("nested deeper") != std::string::npos);
    tight = {};
    tight.max_dims = 1;
    QVERIFY(parse_error(testing::small_valid_gguf(), tight).find("2 dimensions") != std::string::npos);
    tight = {};
    tight.max_metadata_bytes = 100;
    QVERIFY(parse_error(testing::small_valid_gguf(), tight).find("decoded bytes") != std::string::npos);
  }

  // An array claiming 2^24 - 1 uint64 items (within the item limit) must fail on the byte check,
  // before reserving ~700 MB of Values.
  void hugeArrayFailsFast() {
    auto raw = testing::small_valid_raw();
    raw.set("test.nested", 9, testing::Bytes().u32(10).u64((1u << 24) - 1).u64(5).bytes());
    const auto start = std::chrono::steady_clock::now();
    const std::string error = parse_error(raw.encode());
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    QVERIFY2(error.find("cannot fit") != std::string::npos, error.c_str());
    QVERIFY2(ms < 50, std::to_string(ms).c_str());
  }

  void missingFileIsAnError() {
    QVERIFY_THROWS_EXCEPTION(hearth::Error, GgufFile::open("/nonexistent/dir/model.gguf"));
  }
};

QTEST_APPLESS_MAIN(TestGgufCorrupt)
#include "test_gguf_corrupt.moc"
