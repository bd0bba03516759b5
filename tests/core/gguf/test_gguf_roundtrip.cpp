// Writer -> reader round trips with every value type and every tensor type, the writer's bytes
// against the independent hand encoder in corrupt_gguf.cpp, file output through mmap, and the
// typed getters' conversions and refusals.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "tests/core/gguf/corrupt_gguf.h"

using namespace hearth;
using namespace hearth::gguf;

namespace {

Value array_of(ValueType element_type, std::vector<Value> items) { return Value(Array{element_type, std::move(items)}); }

// One of every value type, arrays of each scalar type, arrays of strings, nested and empty arrays.
std::vector<std::pair<std::string, Value>> sample_metadata() {
  return {
      {"v.u8", uint8_t{200}},
      {"v.i8", int8_t{-100}},
      {"v.u16", uint16_t{60000}},
      {"v.i16", int16_t{-30000}},
      {"v.u32", uint32_t{4000000000u}},
      {"v.i32", int32_t{-2000000000}},
      {"v.f32", 3.25f},
      {"v.bool", true},
      {"v.string", std::string("h\xC3\xA9llo\0world", 12)},  // UTF-8 and an embedded NUL
      {"v.u64", uint64_t{18000000000000000000ull}},
      {"v.i64", int64_t{-9000000000000000000ll}},
      {"v.f64", -1.0 / 3.0},
      {"v.empty_string", std::string()},
      {"a.u8", array_of(ValueType::kUint8, {uint8_t{1}, uint8_t{255}})},
      {"a.i16", array_of(ValueType::kInt16, {int16_t{-1}, int16_t{2}})},
      {"a.f32", array_of(ValueType::kFloat32, {1.5f, -2.5f, 0.0f})},
      {"a.f64", array_of(ValueType::kFloat64, {1e300})},
      {"a.bool", array_of(ValueType::kBool, {false, true, true})},
      {"a.string", array_of(ValueType::kString, {std::string("a"), std::string(), std::string("ccc")})},
      {"a.u64", array_of(ValueType::kUint64, {uint64_t{1}, ~uint64_t{0}})},
      {"a.i64", array_of(ValueType::kInt64, {int64_t{-5}})},
      {"a.u32", array_of(ValueType::kUint32, {uint32_t{7}})},
      {"a.i32", array_of(ValueType::kInt32, {int32_t{-7}})},
      {"a.u16", array_of(ValueType::kUint16, {uint16_t{9}})},
      {"a.i8", array_of(ValueType::kInt8, {int8_t{-9}})},
      {"a.empty", array_of(ValueType::kString, {})},
      {"a.nested", array_of(ValueType::kArray,
                            {array_of(ValueType::kString, {std::string("x"), std::string("yy")}),
                             array_of(ValueType::kUint8, {}),
                             array_of(ValueType::kArray, {array_of(ValueType::kInt32, {int32_t{42}})})})},
  };
}

const DType kAllTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0,
                           DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Deep equality of values (Value has no operator==; arrays compare item by item).
bool same_value(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  if (const auto* x = std::get_if<Array>(&a.data)) {
    const auto& y = std::get<Array>(b.data);
    return x->element_type == y.element_type &&
           std::equal(x->items.begin(), x->items.end(), y.items.begin(), y.items.end(), same_value);
  }
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Array>) {
          return false;  // handled above
        } else {
          return x == std::get<T>(b.data);
        }
      },
      a.data);
}

struct SampleTensor {
  std::string name;
  DType type;
  std::vector<uint64_t> dims;
  std::vector<uint8_t> bytes;
};

// One tensor of each type, of 1 to 3 dimensions, with random bytes.
std::vector<SampleTensor> sample_tensors(std::mt19937& rng) {
  std::vector<SampleTensor> out;
  int i = 0;
  for (DType type : kAllTypes) {
    const uint64_t row = traits(type).block_elements * (1 + rng() % 3);
    std::vector<uint64_t> dims = {row};
    for (int d = 0; d < i % 3; ++d) dims.push_back(1 + rng() % 5);
    uint64_t rows = 1;
    for (size_t d = 1; d < dims.size(); ++d) rows *= dims[d];
    std::vector<uint8_t> bytes(*row_bytes(type, row) * rows);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    out.push_back({"t." + std::string(dtype_name(type)), type, dims, std::move(bytes)});
    ++i;
  }
  return out;
}

GgufWriter make_writer(const std::vector<SampleTensor>& tensors, uint64_t alignment) {
  GgufWriter w(alignment);
  for (auto& [k, v] : sample_metadata()) w.set(k, v);
  for (const auto& t : tensors) w.add_tensor(t.name, t.type, t.dims, std::span<const uint8_t>(t.bytes));
  return w;
}

void check_file(const GgufFile& file, const std::vector<SampleTensor>& tensors, uint64_t alignment) {
  QCOMPARE(file.version(), 3u);
  QCOMPARE(file.alignment(), alignment);
  const auto expected = sample_metadata();
  const auto& got = file.metadata();
  // The writer adds general.alignment at the end when it is not the default.
  QCOMPARE(got.size(), expected.size() + (alignment != 32 ? 1 : 0));
  for (size_t i = 0; i < expected.size(); ++i) {
    QCOMPARE(got[i].first, expected[i].first);
    QVERIFY2(same_value(got[i].second, expected[i].second), got[i].first.c_str());
  }
  if (alignment != 32) QCOMPARE(*file.get_uint("general.alignment"), alignment);

  QCOMPARE(file.tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& info = file.tensors()[i];
    QCOMPARE(info.name, tensors[i].name);
    QCOMPARE(info.type, tensors[i].type);
    QCOMPARE(info.dims, tensors[i].dims);
    QCOMPARE(info.n_bytes, uint64_t{tensors[i].bytes.size()});
    QCOMPARE(info.offset % alignment, uint64_t{0});
    QCOMPARE((file.data_offset() + info.offset) % alignment, uint64_t{0});
    const auto data = file.tensor_data(info);
    QVERIFY(std::equal(data.begin(), data.end(), tensors[i].bytes.begin(), tensors[i].bytes.end()));
    QCOMPARE(file.find_tensor(info.name), &info);
  }
  QVERIFY(file.find_tensor("missing") == nullptr);
}

}  // namespace

class TestGgufRoundtrip : public QObject {
  Q_OBJECT
 private slots:
  void roundTripInMemory_data() {
    QTest::addColumn<uint64_t>("alignment");
    QTest::newRow("align32") << uint64_t{32};
    QTest::newRow("align64") << uint64_t{64};
    QTest::newRow("align1") << uint64_t{1};
    QTest::newRow("align4096") << uint64_t{4096};
  }
  void roundTripInMemory() {
    QFETCH(uint64_t, alignment);
    const auto seed = std::random_device{}();
    std::fprintf(stderr, "seed %u\n", seed);
    std::mt19937 rng(seed);
    const auto tensors = sample_tensors(rng);
    const auto bytes = make_writer(tensors, alignment).write_to_bytes();
    QCOMPARE(bytes.size() % alignment, uint64_t{0});  // tensor data padded to the alignment
    check_file(GgufFile::from_bytes(bytes), tensors, alignment);
  }

  void roundTripThroughFile() {
    std::mt19937 rng(7);
    const auto tensors = sample_tensors(rng);
    QTemporaryDir scratch;
    const std::filesystem::path dir = scratch.path().toStdString();
    const auto path = dir / "model.gguf";
    make_writer(tensors, 32).write(path);
    QVERIFY(!std::filesystem::exists(dir / "model.gguf.tmp"));
    {
      GgufFile file = GgufFile::open(path);
      check_file(file, tensors, 32);
      GgufFile moved = std::move(file);  // the mapping moves with it
      check_file(moved, tensors, 32);
    }
  }

  // The writer's bytes equal those of the independent hand encoder for the same content: the
  // header byte for byte, each tensor's data at the same place; the gaps are zeros in the writer
  // (the hand encoder fills them with its byte pattern).
  void writerMatchesHandEncoder() {
    const testing::RawGguf raw = testing::small_valid_raw();
    testing::RawSections sections;
    const std::vector<uint8_t> expected = raw.encode(&sections);
    GgufFile parsed = GgufFile::from_bytes(expected);
    GgufWriter w;
    for (const auto& [k, v] : parsed.metadata()) w.set(k, v);
    for (const TensorInfo& t : parsed.tensors()) w.add_tensor(t.name, t.type, t.dims, parsed.tensor_data(t));
    const auto bytes = w.write_to_bytes();
    QVERIFY(bytes.size() >= expected.size());
    QCOMPARE(std::vector<uint8_t>(bytes.begin(), bytes.begin() + sections.header_end),
             std::vector<uint8_t>(expected.begin(), expected.begin() + sections.header_end));
    std::vector<bool> in_tensor(bytes.size(), false);
    for (const auto& t : raw.tensors) {
      const TensorInfo& info = *parsed.find_tensor(t.name);
      const size_t start = sections.data_start + t.offset;
      QVERIFY(std::equal(expected.begin() + start, expected.begin() + start + info.n_bytes, bytes.begin() + start));
      std::fill(in_tensor.begin() + start, in_tensor.begin() + start + info.n_bytes, true);
    }
    for (size_t i = sections.header_end; i < bytes.size(); ++i) {
      if (!in_tensor[i]) QCOMPARE(bytes[i], uint8_t{0});
    }
  }

  void setReplacesInPlace() {
    GgufWriter w;
    w.set("a", uint32_t{1});
    w.set("b", uint32_t{2});
    w.set("a", std::string("three"));
    GgufFile f = GgufFile::from_bytes(w.write_to_bytes());
    QCOMPARE(f.metadata().size(), size_t{2});
    QCOMPARE(f.metadata()[0].first, std::string("a"));
    QCOMPARE(*f.get_string("a"), std::string("three"));
  }

  void fillCallbackStreams() {
    GgufWriter w;
    int calls = 0;
    w.add_tensor("x", DType::F32, {4, 2}, [&](uint8_t* dst) {
      ++calls;
      const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      std::memcpy(dst, v, sizeof v);
    });
    GgufFile f = GgufFile::from_bytes(w.write_to_bytes());
    QCOMPARE(calls, 1);
    const auto data = f.tensor_data(*f.find_tensor("x"));
    float v[8];
    std::memcpy(v, data.data(), sizeof v);
    QCOMPARE(v[7], 8.0f);
    QCOMPARE(f.find_tensor("x")->n_rows(), uint64_t{2});
    QCOMPARE(f.find_tensor("x")->n_elements, uint64_t{8});
  }

  void writerRejectsBadInput() {
    QVERIFY_THROWS_EXCEPTION(Error, GgufWriter(3));
    QVERIFY_THROWS_EXCEPTION(Error, GgufWriter(0));
    QVERIFY_THROWS_EXCEPTION(Error, GgufWriter(1ull << 31));
    GgufWriter w;
    std::vector<uint8_t> bytes(16);
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("", DType::F32, {4}, bytes));
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::F32, {5}, bytes));            // size mismatch
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::Q4_K, {32}, bytes));          // partial block
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::F32, {4, 0}, bytes));         // zero dim
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::Q8_K, {256}, bytes));         // activation type
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::F32, {1, 1, 1, 1, 4}, bytes));  // 5 dims
    w.add_tensor("a", DType::F32, {4}, bytes);
    QVERIFY_THROWS_EXCEPTION(Error, w.add_tensor("a", DType::F32, {4}, bytes));  // duplicate
    QVERIFY_THROWS_EXCEPTION(Error, w.set("", uint8_t{1}));
    w.set("bad", array_of(ValueType::kUint8, {int32_t{1}}));  // item type differs from element type
    QVERIFY_THROWS_EXCEPTION(Error, w.write_to_bytes());
    GgufWriter w2(64);
    w2.set("general.alignment", uint32_t{32});  // contradicts the writer's alignment
    QVERIFY_THROWS_EXCEPTION(Error, w2.write_to_bytes());
  }

  void typedGetters() {
    GgufWriter w;
    for (auto& [k, v] : sample_metadata()) w.set(k, v);
    GgufFile f = GgufFile::from_bytes(w.write_to_bytes());
    // get_uint: any integer type with a non-negative value.
    QCOMPARE(*f.get_uint("v.u8"), uint64_t{200});
    QCOMPARE(*f.get_uint("v.u64"), uint64_t{18000000000000000000ull});
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_uint("v.i8"));      // negative
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_uint("v.f32"));     // float
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_uint("v.string"));
    QVERIFY(!f.get_uint("absent").has_value());
    // get_int: any integer that fits int64.
    QCOMPARE(*f.get_int("v.i64"), int64_t{-9000000000000000000ll});
    QCOMPARE(*f.get_int("v.u32"), int64_t{4000000000ll});
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_int("v.u64"));  // > INT64_MAX
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_int("v.bool"));
    // get_float: ints and floats.
    QCOMPARE(*f.get_float("v.f32"), 3.25);
    QCOMPARE(*f.get_float("v.f64"), -1.0 / 3.0);
    QCOMPARE(*f.get_float("v.i16"), -30000.0);
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_float("a.f32"));
    QCOMPARE(*f.get_bool("v.bool"), true);
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_bool("v.u8"));
    QCOMPARE(*f.get_string("v.string"), std::string("h\xC3\xA9llo\0world", 12));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_string("a.string"));
    QCOMPARE(*f.get_string_array("a.string"), (std::vector<std::string>{"a", "", "ccc"}));
    QCOMPARE(f.get_string_array("a.empty")->size(), size_t{0});
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_string_array("a.f32"));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_string_array("a.nested"));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_string_array("v.string"));
    QCOMPARE(*f.get_float_array("a.f32"), (std::vector<float>{1.5f, -2.5f, 0.0f}));
    QCOMPARE(*f.get_float_array("a.i16"), (std::vector<float>{-1.0f, 2.0f}));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_float_array("a.string"));
    QCOMPARE(*f.get_int_array("a.i16"), (std::vector<int64_t>{-1, 2}));
    QCOMPARE(*f.get_int_array("a.u8"), (std::vector<int64_t>{1, 255}));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_int_array("a.u64"));  // 2^64-1 does not fit
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_int_array("a.f32"));
    QVERIFY_THROWS_EXCEPTION(FormatError, f.get_int_array("a.bool"));
    // Errors name the key.
    try {
      (void)f.get_uint("v.string");
      QFAIL("no throw");
    } catch (const FormatError& e) {
      QVERIFY2(std::string(e.what()).find("'v.string'") != std::string::npos, e.what());
      QVERIFY2(std::string(e.what()).find("string") != std::string::npos, e.what());
    }
    // Value classification and names.
    QVERIFY(f.find("v.i8")->is_integer());
    QVERIFY(!f.find("v.i8")->is_float());
    QVERIFY(f.find("v.f64")->is_float());
    QVERIFY(!f.find("v.bool")->is_integer());
    QCOMPARE(value_type_name(ValueType::kFloat64), std::string_view("float64"));
    QCOMPARE(value_type_name(ValueType::kArray), std::string_view("array"));
    QCOMPARE(value_type_name(static_cast<ValueType>(99)), std::string_view("unknown"));
  }
};

QTEST_APPLESS_MAIN(TestGgufRoundtrip)
#include "test_gguf_roundtrip.moc"
