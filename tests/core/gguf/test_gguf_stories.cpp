// Reads the bundled resources/models/stories260K.gguf through mmap. Expected facts were taken
// with an independent Python parser of the format (struct.unpack), not with this reader; tensor
// bytes are compared with a plain std::ifstream read of the file.
#include <QTest>

#include <cmath>
#include <fstream>

#include "core/gguf/gguf_file.h"

using namespace hearth;
using namespace hearth::gguf;

namespace {
const char* kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";
}

class TestGgufStories : public QObject {
  Q_OBJECT
 private slots:
  void header() {
    GgufFile f = GgufFile::open(kModel);
    QCOMPARE(f.version(), 3u);
    QCOMPARE(f.alignment(), uint64_t{32});
    QCOMPARE(f.file_size(), uint64_t{1185376});
    QCOMPARE(f.data_offset(), uint64_t{14176});  // header ends at 14152, rounded up to 32
    QCOMPARE(f.metadata().size(), size_t{19});
    QCOMPARE(f.metadata()[0].first, std::string("tokenizer.ggml.tokens"));
  }

  void metadata() {
    GgufFile f = GgufFile::open(kModel);
    QCOMPARE(*f.get_string("general.architecture"), std::string("llama"));
    QCOMPARE(*f.get_string("tokenizer.ggml.model"), std::string("llama"));
    const auto tokens = *f.get_string_array("tokenizer.ggml.tokens");
    QCOMPARE(tokens.size(), size_t{512});
    QCOMPARE(tokens[0], std::string("<unk>"));
    QCOMPARE(tokens[1], std::string("<s>"));
    QCOMPARE(tokens[2], std::string("</s>"));
    QCOMPARE(f.get_float_array("tokenizer.ggml.scores")->size(), size_t{512});
    const auto types = *f.get_int_array("tokenizer.ggml.token_type");
    QCOMPARE(types.size(), size_t{512});
    QCOMPARE(types[0], int64_t{2});
    QCOMPARE(types[1], int64_t{3});
    QCOMPARE(*f.get_uint("tokenizer.ggml.bos_token_id"), uint64_t{1});
    QCOMPARE(*f.get_uint("tokenizer.ggml.eos_token_id"), uint64_t{2});
    // 0xFFFFFFFF means "no padding token"; the reader accepts it although it is >= 512.
    QCOMPARE(*f.get_uint("tokenizer.ggml.padding_token_id"), uint64_t{0xFFFFFFFFu});
    QCOMPARE(*f.get_uint("llama.block_count"), uint64_t{5});
    QCOMPARE(*f.get_uint("llama.context_length"), uint64_t{512});
    QCOMPARE(*f.get_uint("llama.embedding_length"), uint64_t{64});
    QCOMPARE(*f.get_uint("llama.feed_forward_length"), uint64_t{172});
    QCOMPARE(*f.get_uint("llama.attention.head_count"), uint64_t{8});
    QCOMPARE(*f.get_uint("llama.attention.head_count_kv"), uint64_t{4});
    QCOMPARE(*f.get_uint("llama.rope.dimension_count"), uint64_t{8});
    QVERIFY(std::abs(*f.get_float("llama.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-10);
  }

  void tensors() {
    GgufFile f = GgufFile::open(kModel);
    QCOMPARE(f.tensors().size(), size_t{48});  // 3 + 5 layers x 9
    struct Expect { const char* name; std::vector<uint64_t> dims; uint64_t offset; };
    const Expect expected[] = {
        {"token_embd.weight", {64, 512}, 0},
        {"output_norm.weight", {64}, 131072},
        {"output.weight", {64, 512}, 131328},
        {"blk.0.attn_q.weight", {64, 64}, 262400},
        {"blk.0.attn_k.weight", {64, 32}, 278784},
        {"blk.0.ffn_gate.weight", {64, 172}, 311808},
        {"blk.0.ffn_down.weight", {172, 64}, 355840},
        {"blk.4.ffn_norm.weight", {64}, 1170944},
    };
    for (const auto& e : expected) {
      const TensorInfo* t = f.find_tensor(e.name);
      QVERIFY2(t != nullptr, e.name);
      QCOMPARE(t->dims, e.dims);
      QCOMPARE(t->type, DType::F32);
      QCOMPARE(t->offset, e.offset);
      uint64_t n = 1;
      for (uint64_t d : e.dims) n *= d;
      QCOMPARE(t->n_elements, n);
      QCOMPARE(t->n_bytes, n * 4);
    }
    // The last tensor ends exactly at the end of the file.
    const TensorInfo* last = f.find_tensor("blk.4.ffn_norm.weight");
    QCOMPARE(f.data_offset() + last->offset + last->n_bytes, f.file_size());
  }

  void tensorBytesMatchPlainRead() {
    GgufFile f = GgufFile::open(kModel);
    std::ifstream in(kModel, std::ios::binary);
    for (const char* name : {"token_embd.weight", "blk.2.ffn_up.weight", "blk.4.ffn_norm.weight"}) {
      const TensorInfo& t = *f.find_tensor(name);
      std::vector<char> expected(t.n_bytes);
      in.seekg(static_cast<std::streamoff>(f.data_offset() + t.offset));
      in.read(expected.data(), static_cast<std::streamsize>(expected.size()));
      QVERIFY(in.good());
      const auto data = f.tensor_data(t);
      QCOMPARE(data.size(), expected.size());
      QVERIFY2(std::memcmp(data.data(), expected.data(), data.size()) == 0, name);
    }
    // Norm weights of a trained model are finite and not all zero.
    const auto norm = f.tensor_data(*f.find_tensor("output_norm.weight"));
    float w[64];
    std::memcpy(w, norm.data(), sizeof w);
    bool nonzero = false;
    for (float x : w) {
      QVERIFY(std::isfinite(x));
      nonzero = nonzero || x != 0;
    }
    QVERIFY(nonzero);
  }
};

QTEST_APPLESS_MAIN(TestGgufStories)
#include "test_gguf_stories.moc"
