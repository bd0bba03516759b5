// Model-file tools: presets, random-weight synthesis, the quantization type plan, quantize, info.
// Expected tensor lists, types and statistics are written out here from the model definitions,
// not taken from the code under test.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/model/model_info.h"
#include "core/model/model_presets.h"
#include "core/model/quantize_model.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/thread_pool.h"

using namespace hearth;
using kernels::cpu::ThreadPool;

namespace {

const std::filesystem::path kStoriesModel = std::filesystem::path(HEARTH_SOURCE_DIR) / "resources/models/stories260K.gguf";

constexpr QuantTarget kAllTargets[] = {QuantTarget::kF32,  QuantTarget::kF16,  QuantTarget::kBF16,  QuantTarget::kQ8_0,
                                       QuantTarget::kQ4_0, QuantTarget::kQ6_K, QuantTarget::kQ4_K_M};

QString q(const std::string& s) { return QString::fromStdString(s); }

std::vector<uint8_t> synth_bytes(const ModelPreset& p, QuantTarget type, uint64_t seed, ThreadPool& pool) {
  gguf::GgufWriter writer;
  SynthOptions options;
  options.type = type;
  options.seed = seed;
  add_synth_model(writer, p, options, pool);
  return writer.write_to_bytes();
}

// Float values of a whole tensor (dequantized).
std::vector<float> tensor_values(const gguf::GgufFile& f, const gguf::TensorInfo& t) {
  std::vector<float> out(t.n_elements);
  const auto data = f.tensor_data(t);
  const uint64_t row_size = *row_bytes(t.type, t.dims[0]);
  for (uint64_t r = 0; r < t.n_rows(); ++r) {
    const auto status = kernels::cpu::dequantize_row(t.type, data.data() + r * row_size, out.data() + r * t.dims[0],
                                                     static_cast<int64_t>(t.dims[0]));
    if (status != kernels::KernelStatus::kOk) qFatal("dequantize_row failed for %s", t.name.c_str());
  }
  return out;
}

struct Expected {
  std::string name;
  std::vector<uint64_t> dims;
};

// The llama.cpp tensor layout, written from the architecture description.
std::vector<Expected> expected_tensors(const ModelPreset& p) {
  const uint64_t e = p.n_embd, v = p.n_vocab, hd = p.head_dim, qd = p.n_head * p.head_dim,
                 kvd = p.n_head_kv * p.head_dim, ff = p.n_ff;
  std::vector<Expected> out = {{"token_embd.weight", {e, v}}, {"output_norm.weight", {e}}};
  if (!p.tied_output) out.push_back({"output.weight", {e, v}});
  if (p.arch == "llama") out.push_back({"rope_freqs.weight", {hd / 2}});
  for (int64_t i = 0; i < p.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    for (const auto& x : std::vector<Expected>{{b + "attn_norm.weight", {e}},
                                               {b + "attn_q.weight", {e, qd}},
                                               {b + "attn_k.weight", {e, kvd}},
                                               {b + "attn_v.weight", {e, kvd}},
                                               {b + "attn_output.weight", {qd, e}},
                                               {b + "ffn_norm.weight", {e}},
                                               {b + "ffn_gate.weight", {e, ff}},
                                               {b + "ffn_up.weight", {e, ff}},
                                               {b + "ffn_down.weight", {ff, e}}}) {
      out.push_back(x);
    }
    if (p.arch == "qwen2") {
      out.push_back({b + "attn_q.bias", {qd}});
      out.push_back({b + "attn_k.bias", {kvd}});
      out.push_back({b + "attn_v.bias", {kvd}});
    }
    if (p.arch == "qwen3") {
      out.push_back({b + "attn_q_norm.weight", {hd}});
      out.push_back({b + "attn_k_norm.weight", {hd}});
    }
  }
  return out;
}

// Tensor types of a tiny preset (all rows are whole K-blocks, 2 layers) in each target, from
// llama.cpp's rules: the logits matrix gets Q6_K in quantized mixes but Q8_0; in Q4_K_M with 2
// layers only layer 1 gets more bits (i >= 7*2/8).
DType expected_tiny_type(QuantTarget target, const std::string& name, size_t n_dims, bool tied) {
  if (n_dims == 1) return DType::F32;
  const bool logits = name == "output.weight" || (tied && name == "token_embd.weight");
  switch (target) {
    case QuantTarget::kF32: return DType::F32;
    case QuantTarget::kF16: return DType::F16;
    case QuantTarget::kBF16: return DType::BF16;
    case QuantTarget::kQ8_0: return DType::Q8_0;
    case QuantTarget::kQ4_0: return logits ? DType::Q6_K : DType::Q4_0;
    case QuantTarget::kQ6_K: return DType::Q6_K;
    case QuantTarget::kQ4_K_M:
      if (logits || name == "blk.1.attn_v.weight" || name == "blk.1.ffn_down.weight") return DType::Q6_K;
      return DType::Q4_K;
  }
  return DType::F32;
}

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}

double std_of(const std::vector<float>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

// Relative RMS error of b against a.
double relative_rms_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(a[i]) * a[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

class TestSynthQuantize : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    dir_ = scratch_.path().toStdString();
  }

  void presets_are_consistent() {
    for (const auto& p : model_presets()) {
      QVERIFY2(p.n_head % p.n_head_kv == 0, p.name.data());
      QVERIFY2(p.first_special > 256 && p.first_special < p.n_vocab, p.name.data());
      if (p.name.substr(0, 5) == "tiny-") {
        for (int64_t row : {p.n_embd, p.n_head * p.head_dim, p.n_ff}) QVERIFY2(row % 256 == 0, p.name.data());
      }
    }
    const auto* p = find_model_preset("qwen3-0.6b");
    QVERIFY(p);
    QCOMPARE(p->head_dim, int64_t{128});
    QVERIFY(p->head_dim != p->n_embd / p->n_head);
    QVERIFY(find_model_preset("no-such-model") == nullptr);
  }

  // Llama 3 scaling factors against a float64 evaluation of the published formula.
  void llama3_rope_factors_match_float64() {
    for (const char* name : {"llama-3.2-1b", "llama-3.1-8b", "tiny-llama-3"}) {
      const auto& p = *find_model_preset(name);
      const auto& s = *p.rope_scaling;
      const auto got = llama3_rope_factors(s, p.head_dim, p.rope_base);
      QCOMPARE(int64_t(got.size()), p.head_dim / 2);
      for (int64_t i = 0; i < p.head_dim / 2; ++i) {
        const double freq = 1.0 / std::pow(double(p.rope_base), double(2 * i) / double(p.head_dim));
        const double wavelen = 2 * M_PI / freq;
        const double low = s.original_context / double(s.low_freq_factor);
        const double high = s.original_context / double(s.high_freq_factor);
        double want;
        if (wavelen < high) {
          want = 1;
        } else if (wavelen > low) {
          want = s.factor;
        } else {
          const double smooth = (s.original_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          want = 1 / ((1 - smooth) / s.factor + smooth);
        }
        QVERIFY2(std::abs(got[size_t(i)] - want) <= 1e-4 * want,
                 qPrintable(QString("%1 factor %2: %3 vs %4").arg(name).arg(i).arg(got[size_t(i)]).arg(want)));
      }
      QCOMPARE(got.front(), 1.0f);
      QCOMPARE(got.back(), s.factor);
    }
  }

  void use_more_bits_16_and_32_layers() {
    std::set<int64_t> got16, got32;
    for (int64_t i = 0; i < 16; ++i) {
      if (use_more_bits(i, 16)) got16.insert(i);
    }
    for (int64_t i = 0; i < 32; ++i) {
      if (use_more_bits(i, 32)) got32.insert(i);
    }
    QCOMPARE(got16, (std::set<int64_t>{0, 1, 4, 7, 10, 13, 14, 15}));
    QCOMPARE(got32, (std::set<int64_t>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  }

  void plan_q4_k_m_layers() {
    const PlanContext ctx16{.n_layer = 16, .has_output = true};
    const std::vector<uint64_t> d = {4096, 1024};
    auto plan = [&](const std::string& name, const PlanContext& c, std::vector<uint64_t> dims) {
      return plan_tensor_type(QuantTarget::kQ4_K_M, name, dims, DType::F32, c);
    };
    const std::set<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
    for (int i = 0; i < 16; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      const DType want = more.count(i) ? DType::Q6_K : DType::Q4_K;
      QCOMPARE(plan(b + "attn_v.weight", ctx16, d), want);
      QCOMPARE(plan(b + "ffn_down.weight", ctx16, d), want);
      QCOMPARE(plan(b + "attn_q.weight", ctx16, d), DType::Q4_K);
      QCOMPARE(plan(b + "attn_k.weight", ctx16, d), DType::Q4_K);
      QCOMPARE(plan(b + "attn_output.weight", ctx16, d), DType::Q4_K);
      QCOMPARE(plan(b + "ffn_gate.weight", ctx16, d), DType::Q4_K);
      QCOMPARE(plan(b + "ffn_up.weight", ctx16, d), DType::Q4_K);
      QCOMPARE(plan(b + "attn_norm.weight", ctx16, {4096}), DType::F32);
      QCOMPARE(plan(b + "attn_q.bias", ctx16, {4096}), DType::F32);
    }
    const PlanContext ctx32{.n_layer = 32, .has_output = true};
    QCOMPARE(plan("blk.27.attn_v.weight", ctx32, d), DType::Q6_K);
    QCOMPARE(plan("blk.26.attn_v.weight", ctx32, d), DType::Q4_K);
    QCOMPARE(plan("blk.5.ffn_down.weight", ctx32, d), DType::Q4_K);
    QCOMPARE(plan("blk.6.ffn_down.weight", ctx32, d), DType::Q6_K);
    // Untied: output gets Q6_K, token_embd the base type. Tied: token_embd is the logits matrix.
    QCOMPARE(plan("output.weight", ctx32, d), DType::Q6_K);
    QCOMPARE(plan("token_embd.weight", ctx32, d), DType::Q4_K);
    const PlanContext tied{.n_layer = 32, .has_output = false};
    QCOMPARE(plan("token_embd.weight", tied, d), DType::Q6_K);
    QCOMPARE(plan("rope_freqs.weight", tied, {64}), DType::F32);
    // A plan context read from a tensor list.
    std::vector<gguf::TensorInfo> infos(3);
    infos[0].name = "blk.0.attn_q.weight";
    infos[1].name = "blk.11.ffn_down.weight";
    infos[2].name = "output.weight";
    const auto c = plan_context_for(infos);
    QCOMPARE(c.n_layer, int64_t{12});
    QVERIFY(c.has_output);
  }

  void plan_fallbacks_for_short_rows() {
    const PlanContext ctx{.n_layer = 5, .has_output = true};
    auto plan = [&](QuantTarget t, const std::string& name, uint64_t row) {
      return plan_tensor_type(t, name, std::vector<uint64_t>{row, 512}, DType::F32, ctx);
    };
    // stories260K: rows of 64 (embd) and 172 (ff).
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "blk.1.attn_q.weight", 64), DType::Q4_0);
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "blk.1.ffn_down.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "blk.4.attn_v.weight", 64), DType::Q8_0);  // Q6_K (i >= 7*5/8) -> Q8_0
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "blk.0.attn_v.weight", 64), DType::Q4_0);  // 5 layers: layer 0 is not one
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "blk.2.ffn_down.weight", 172), DType::F16);  // Q6_K -> Q8_0 -> F16
    QCOMPARE(plan(QuantTarget::kQ6_K, "blk.1.attn_q.weight", 64), DType::Q8_0);
    QCOMPARE(plan(QuantTarget::kQ6_K, "blk.1.ffn_down.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kQ4_0, "blk.1.attn_q.weight", 64), DType::Q4_0);
    QCOMPARE(plan(QuantTarget::kQ4_0, "blk.1.ffn_down.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kQ8_0, "blk.1.ffn_down.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kQ8_0, "output.weight", 64), DType::Q8_0);
    QCOMPARE(plan(QuantTarget::kQ4_K_M, "output.weight", 64), DType::Q8_0);
    QCOMPARE(plan(QuantTarget::kQ4_0, "output.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kF16, "blk.1.ffn_down.weight", 172), DType::F16);
    QCOMPARE(plan(QuantTarget::kBF16, "blk.1.ffn_down.weight", 172), DType::BF16);
    QCOMPARE(fallback_for_row_length(DType::Q4_K, 256), DType::Q4_K);
    QCOMPARE(fallback_for_row_length(DType::Q4_K, 896), DType::Q4_0);  // qwen2.5-0.5b's embd
    // Multi-dimensional non-weights keep their type.
    QCOMPARE(plan_tensor_type(QuantTarget::kQ4_0, "something.bias", std::vector<uint64_t>{256, 2}, DType::F16, ctx),
             DType::F16);
  }

  void parse_targets() {
    QCOMPARE(*parse_quant_target("Q4_K_M"), QuantTarget::kQ4_K_M);
    QCOMPARE(*parse_quant_target("bf16"), QuantTarget::kBF16);
    QVERIFY(!parse_quant_target("q4_k_s"));
    QCOMPARE(llama_file_type(QuantTarget::kF32), 0u);
    QCOMPARE(llama_file_type(QuantTarget::kF16), 1u);
    QCOMPARE(llama_file_type(QuantTarget::kQ4_0), 2u);
    QCOMPARE(llama_file_type(QuantTarget::kQ8_0), 7u);
    QCOMPARE(llama_file_type(QuantTarget::kQ4_K_M), 15u);
    QCOMPARE(llama_file_type(QuantTarget::kQ6_K), 18u);
    QCOMPARE(llama_file_type(QuantTarget::kBF16), 32u);
  }

  void vocabulary_is_valid_bpe() {
    for (const char* name : {"tiny-llama-3", "tiny-qwen2.5", "tiny-qwen3", "llama-3.2-1b", "qwen2.5-0.5b"}) {
      const auto& p = *find_model_preset(name);
      const auto v = synth_vocabulary(p);
      QCOMPARE(int64_t(v.tokens.size()), p.n_vocab);
      QCOMPARE(v.token_types.size(), v.tokens.size());
      QCOMPARE(int64_t(v.merges.size()), p.first_special - 256);
      std::map<std::string, int64_t> ids;
      for (size_t i = 0; i < v.tokens.size(); ++i) {
        QVERIFY2(ids.emplace(v.tokens[i], int64_t(i)).second, qPrintable(q("duplicate token " + v.tokens[i])));
      }
      // The 256 single bytes, each its own token.
      std::set<std::string> bytes;
      for (int b = 0; b < 256; ++b) bytes.insert(encode_bytes_as_unicode(std::string(1, char(b))));
      QCOMPARE(bytes.size(), size_t(256));
      for (int i = 0; i < 256; ++i) QVERIFY(bytes.count(v.tokens[size_t(i)]));
      QCOMPARE(v.tokens[0], std::string("!"));
      QCOMPARE(encode_bytes_as_unicode(" the"), std::string("\xC4\xA0the"));  // "Ġthe"
      // Each merge "A B" joins two earlier tokens into the token it makes.
      for (size_t m = 0; m < v.merges.size(); ++m) {
        const auto& merge = v.merges[m];
        const auto space = merge.find(' ');
        QVERIFY(space != std::string::npos && merge.find(' ', space + 1) == std::string::npos);
        const std::string a = merge.substr(0, space), b = merge.substr(space + 1);
        const int64_t made = 256 + int64_t(m);
        QVERIFY2(ids.count(a) && ids.count(b), qPrintable(q("merge parts missing: " + merge)));
        QVERIFY(ids[a] < made && ids[b] < made);
        QCOMPARE(v.tokens[size_t(made)], a + b);
        QCOMPARE(v.token_types[size_t(made)], TokenType::kNormal);
      }
      for (int64_t id = p.first_special; id < p.n_vocab; ++id) QVERIFY(v.token_types[size_t(id)] != TokenType::kNormal);
      const int64_t s = p.first_special;
      if (p.arch == "llama") {
        QCOMPARE(v.tokens[size_t(s)], std::string("<|begin_of_text|>"));
        QCOMPARE(v.tokens[size_t(s + 1)], std::string("<|end_of_text|>"));
        QCOMPARE(v.tokens[size_t(s + 6)], std::string("<|start_header_id|>"));
        QCOMPARE(v.tokens[size_t(s + 7)], std::string("<|end_header_id|>"));
        QCOMPARE(v.tokens[size_t(s + 9)], std::string("<|eot_id|>"));
        QCOMPARE(v.bos_id, s);
        QCOMPARE(v.eot_id, s + 9);
        QVERIFY(v.add_bos);
        QCOMPARE(v.pre, std::string("llama-bpe"));
        if (p.n_vocab == 128256) {
          QCOMPARE(v.tokens[128000], std::string("<|begin_of_text|>"));
          QCOMPARE(v.tokens[128009], std::string("<|eot_id|>"));
          QCOMPARE(v.tokens[128255], std::string("<|reserved_special_token_247|>"));
        }
      } else {
        QCOMPARE(v.tokens[size_t(s)], std::string("<|endoftext|>"));
        QCOMPARE(v.tokens[size_t(s + 1)], std::string("<|im_start|>"));
        QCOMPARE(v.tokens[size_t(s + 2)], std::string("<|im_end|>"));
        QCOMPARE(v.eos_id, s + 2);
        QVERIFY(!v.add_bos);
        QCOMPARE(v.pre, std::string("qwen2"));
        if (p.n_vocab == 151936) {
          QCOMPARE(v.tokens[151643], std::string("<|endoftext|>"));
          QCOMPARE(v.tokens[151645], std::string("<|im_end|>"));
        }
      }
    }
  }

  void synth_tiny_presets_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<int>("target");
    for (const char* preset : {"tiny-llama-3", "tiny-qwen2.5", "tiny-qwen3"}) {
      for (auto t : kAllTargets) {
        QTest::addRow("%s-%s", preset, quant_target_name(t).data()) << preset << int(t);
      }
    }
  }

  void synth_tiny_presets() {
    QFETCH(QString, preset);
    QFETCH(int, target);
    const auto& p = *find_model_preset(preset.toStdString());
    const auto type = static_cast<QuantTarget>(target);
    ThreadPool pool(2);
    const auto file = gguf::GgufFile::from_bytes(synth_bytes(p, type, 42, pool));

    // Tensors: exactly the expected names, shapes and types.
    const auto expected = expected_tensors(p);
    QCOMPARE(file.tensors().size(), expected.size());
    for (const auto& e : expected) {
      const auto* t = file.find_tensor(e.name);
      QVERIFY2(t, qPrintable(q("missing " + e.name)));
      QVERIFY2(t->dims == e.dims, qPrintable(q("shape of " + e.name)));
      const DType want = expected_tiny_type(type, e.name, e.dims.size(), p.tied_output);
      QVERIFY2(t->type == want, qPrintable(q(e.name + ": " + std::string(dtype_name(t->type)) + " expected " +
                                             std::string(dtype_name(want)))));
    }

    // Metadata.
    const std::string a = std::string(p.arch) + ".";
    QCOMPARE(*file.get_string("general.architecture"), std::string(p.arch));
    QVERIFY(file.get_string("general.name"));
    QCOMPARE(*file.get_uint("general.file_type"), uint64_t(llama_file_type(type)));
    QCOMPARE(file.get_uint("general.quantization_version").has_value(), is_quantized_target(type));
    QCOMPARE(*file.get_uint(a + "vocab_size"), uint64_t(p.n_vocab));
    QCOMPARE(*file.get_uint(a + "embedding_length"), uint64_t(p.n_embd));
    QCOMPARE(*file.get_uint(a + "block_count"), uint64_t(p.n_layer));
    QCOMPARE(*file.get_uint(a + "feed_forward_length"), uint64_t(p.n_ff));
    QCOMPARE(*file.get_uint(a + "attention.head_count"), uint64_t(p.n_head));
    QCOMPARE(*file.get_uint(a + "attention.head_count_kv"), uint64_t(p.n_head_kv));
    QCOMPARE(*file.get_uint(a + "attention.key_length"), uint64_t(p.head_dim));
    QCOMPARE(*file.get_uint(a + "attention.value_length"), uint64_t(p.head_dim));
    QCOMPARE(*file.get_uint(a + "rope.dimension_count"), uint64_t(p.head_dim));
    QCOMPARE(*file.get_uint(a + "context_length"), uint64_t(p.n_ctx));
    QCOMPARE(float(*file.get_float(a + "rope.freq_base")), p.rope_base);
    QCOMPARE(float(*file.get_float(a + "attention.layer_norm_rms_epsilon")), p.rms_eps);

    // Vocabulary.
    QCOMPARE(*file.get_string("tokenizer.ggml.model"), std::string("gpt2"));
    QCOMPARE(*file.get_string("tokenizer.ggml.pre"), std::string(p.arch == "llama" ? "llama-bpe" : "qwen2"));
    const auto tokens = *file.get_string_array("tokenizer.ggml.tokens");
    QCOMPARE(int64_t(tokens.size()), p.n_vocab);
    QCOMPARE(int64_t(file.get_int_array("tokenizer.ggml.token_type")->size()), p.n_vocab);
    QCOMPARE(int64_t(file.get_string_array("tokenizer.ggml.merges")->size()), p.first_special - 256);
    const auto bos = *file.get_uint("tokenizer.ggml.bos_token_id");
    const auto eos = *file.get_uint("tokenizer.ggml.eos_token_id");
    QCOMPARE(tokens[bos], std::string(p.arch == "llama" ? "<|begin_of_text|>" : "<|endoftext|>"));
    QCOMPARE(tokens[eos], std::string(p.arch == "llama" ? "<|eot_id|>" : "<|im_end|>"));
    QCOMPARE(*file.get_bool("tokenizer.ggml.add_bos_token"), p.arch == "llama");
    const auto tmpl = *file.get_string("tokenizer.chat_template");
    QVERIFY(tmpl.find(p.arch == "llama" ? "<|start_header_id|>" : "<|im_start|>") != std::string::npos);

    // The engine's own config reader accepts it.
    const auto config = ModelConfig::from_gguf(file);
    QCOMPARE(config.n_vocab, p.n_vocab);
    QCOMPARE(config.head_dim, p.head_dim);
    QCOMPARE(config.tied_output, p.tied_output);

    // Weight statistics, dequantized: matrices ~N(0, 1/row length), norms ~1.
    for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}) {
      const auto* t = file.find_tensor(name);
      const auto values = tensor_values(file, *t);
      const double want_std = 1.0 / std::sqrt(double(t->dims[0]));
      QVERIFY2(std::abs(mean_of(values)) < 0.05 * want_std, qPrintable(QString::number(mean_of(values))));
      QVERIFY2(std::abs(std_of(values) - want_std) < 0.1 * want_std, qPrintable(QString::number(std_of(values))));
    }
    const auto norm_values = tensor_values(file, *file.find_tensor("blk.1.ffn_norm.weight"));
    QVERIFY(std::abs(mean_of(norm_values) - 1.0) < 0.02);
    if (p.rope_scaling) {
      const auto rf = tensor_values(file, *file.find_tensor("rope_freqs.weight"));
      QCOMPARE(rf, llama3_rope_factors(*p.rope_scaling, p.head_dim, p.rope_base));
    }
  }

  void synth_is_deterministic_per_seed() {
    const auto& p = *find_model_preset("tiny-qwen3");
    ThreadPool one(1), two(2);
    const auto a = synth_bytes(p, QuantTarget::kQ4_K_M, 5, one);
    const auto b = synth_bytes(p, QuantTarget::kQ4_K_M, 5, two);  // thread count must not matter
    const auto c = synth_bytes(p, QuantTarget::kQ4_K_M, 6, two);
    qInfo("hashes: seed 5 %016llx / %016llx, seed 6 %016llx", (unsigned long long)fnv1a(a),
          (unsigned long long)fnv1a(b), (unsigned long long)fnv1a(c));
    QCOMPARE(fnv1a(a), fnv1a(b));
    QVERIFY(a == b);
    QCOMPARE(a.size(), c.size());
    QVERIFY(a != c);
  }

  // f32 -> q8_0 -> values within Q8_0's error of the source; metadata copied.
  void quantize_round_trip_q8_0_and_q4_k_m() {
    const auto& p = *find_model_preset("tiny-qwen2.5");
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", (unsigned long long)seed);
    ThreadPool pool(2);
    SynthOptions options;
    options.seed = seed;
    const auto src_path = dir_ / "rt-f32.gguf";
    synth_model_file(src_path, p, options, pool);
    const auto src = gguf::GgufFile::open(src_path);

    for (auto [target, bound] : {std::pair{QuantTarget::kQ8_0, 0.01}, std::pair{QuantTarget::kQ4_K_M, 0.12},
                                 std::pair{QuantTarget::kF16, 1e-3}}) {
      const auto out_path = dir_ / ("rt-" + std::string(quant_target_name(target)) + ".gguf");
      std::vector<std::string> log_lines;
      const auto summary =
          quantize_model(src_path, out_path, target, pool, [&](const std::string& l) { log_lines.push_back(l); });
      QCOMPARE(summary.n_tensors, src.tensors().size());
      QVERIFY(!log_lines.empty());
      const auto out = gguf::GgufFile::open(out_path);
      QCOMPARE(*out.get_uint("general.file_type"), uint64_t(llama_file_type(target)));
      for (const auto& [key, value] : src.metadata()) {
        if (key == "general.file_type") continue;
        QVERIFY2(out.find(key), key.c_str());
      }
      QCOMPARE(*out.get_string_array("tokenizer.ggml.tokens"), *src.get_string_array("tokenizer.ggml.tokens"));
      QCOMPARE(out.tensors().size(), src.tensors().size());
      const auto ctx = plan_context_for(src.tensors());
      for (const auto& t : src.tensors()) {
        const auto* o = out.find_tensor(t.name);
        QVERIFY(o);
        QVERIFY(o->dims == t.dims);
        QCOMPARE(o->type, plan_tensor_type(target, t.name, t.dims, t.type, ctx));
        const auto a = tensor_values(src, t);
        const auto b = tensor_values(out, *o);
        const double err = relative_rms_error(a, b);
        QVERIFY2(err <= bound, qPrintable(q(t.name + " relative error " + std::to_string(err))));
        if (t.dims.size() == 1) QVERIFY(a == b);
      }
    }
    // Requantizing a quantized file warns.
    std::vector<std::string> log_lines;
    quantize_model(dir_ / "rt-q8_0.gguf", dir_ / "rt-q8-q4.gguf", QuantTarget::kQ4_0, pool,
                   [&](const std::string& l) { log_lines.push_back(l); });
    bool warned = false;
    for (const auto& l : log_lines) warned = warned || l.rfind("warning", 0) == 0;
    QVERIFY(warned);
  }

  void quantize_rejects_bad_input() {
    ThreadPool pool(1);
    const auto garbage = dir_ / "garbage.gguf";
    {
      FILE* f = std::fopen(garbage.string().c_str(), "wb");
      std::fputs("this is not a gguf file at all, not even close", f);
      std::fclose(f);
    }
    QVERIFY_THROWS_EXCEPTION(hearth::Error, quantize_model(garbage, dir_ / "out.gguf", QuantTarget::kQ8_0, pool));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, quantize_model(dir_ / "missing.gguf", dir_ / "out.gguf", QuantTarget::kQ8_0, pool));
    QVERIFY(!std::filesystem::exists(dir_ / "out.gguf"));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, quantize_model(kStoriesModel, kStoriesModel, QuantTarget::kQ8_0, pool));
  }

  void quantize_stories260k_data() {
    QTest::addColumn<int>("target");
    for (auto t : kAllTargets) QTest::addRow("%s", quant_target_name(t).data()) << int(t);
  }

  // Every target gives a file the engine's config reader accepts, with the fallbacks for the
  // 64- and 172-wide rows.
  void quantize_stories260k() {
    QFETCH(int, target);
    const auto type = static_cast<QuantTarget>(target);
    ThreadPool pool(2);
    const auto out_path = dir_ / ("stories-" + std::string(quant_target_name(type)) + ".gguf");
    quantize_model(kStoriesModel, out_path, type, pool);
    const auto out = gguf::GgufFile::open(out_path);
    const auto src = gguf::GgufFile::open(kStoriesModel);
    const auto config = ModelConfig::from_gguf(out);
    QCOMPARE(config.n_embd, int64_t{64});
    QCOMPARE(config.n_ff, int64_t{172});
    const auto* down = out.find_tensor("blk.0.ffn_down.weight");
    const auto* q = out.find_tensor("blk.0.attn_q.weight");
    QVERIFY(down && q);
    if (type == QuantTarget::kBF16) {
      QCOMPARE(down->type, DType::BF16);
    } else if (type == QuantTarget::kF32) {
      QCOMPARE(down->type, DType::F32);
    } else {
      QCOMPARE(down->type, DType::F16);  // 172 is no multiple of 32
    }
    const DType q_want[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q8_0, DType::Q4_0};
    QCOMPARE(q->type, q_want[target]);
    for (const auto& t : src.tensors()) {
      const auto a = tensor_values(src, t);
      const auto b = tensor_values(out, *out.find_tensor(t.name));
      QVERIFY2(relative_rms_error(a, b) < 0.15, t.name.c_str());
    }
  }

  void model_info_of_synth_file() {
    const auto& p = *find_model_preset("tiny-llama-3");
    ThreadPool pool(2);
    const auto file = gguf::GgufFile::from_bytes(synth_bytes(p, QuantTarget::kQ4_K_M, 1, pool));
    const auto info = read_model_info(file);
    // Parameters, from the architecture: embeddings, rope factors, final norm, and per layer
    // two norms, q/k/v/o and the three FFN matrices.
    const uint64_t e = 256, qd = 8 * 32, kvd = 2 * 32, ff = 768, v = 1024;
    const uint64_t per_layer = 2 * e + e * qd + 2 * e * kvd + qd * e + 3 * e * ff;
    QCOMPARE(info.parameter_count, v * e + 16 + e + 2 * per_layer);
    QCOMPARE(info.architecture, std::string("llama"));
    QCOMPARE(info.file_type_name, std::string("Q4_K_M"));
    QCOMPARE(info.shapes.source, std::string("config"));
    QCOMPARE(info.shapes.n_layer, int64_t{2});
    QVERIFY(info.shapes.tied_output && info.shapes.rope_freq_factors);
    QCOMPARE(info.vocab_size, uint64_t{1024});
    QCOMPARE(info.vocab_pre, std::string("llama-bpe"));
    QCOMPARE(*info.bos_id, int64_t{1008});
    QVERIFY(info.has_chat_template && info.chat_template_bytes > 100);
    uint64_t counted = 0;
    std::map<std::string, uint64_t> counts;
    for (const auto& t : info.types) {
      counted += t.count;
      counts[t.type] = t.count;
    }
    QCOMPARE(counted, uint64_t(file.tensors().size()));
    QCOMPARE(counts["q6_K"], uint64_t{3});   // token_embd (tied) + blk.1 attn_v, ffn_down
    QCOMPARE(counts["f32"], uint64_t{2 + 2 * 2});
    const auto text = format_model_info(info);
    QVERIFY(text.find("Q4_K_M") != std::string::npos);
    QVERIFY(text.find("llama-bpe") != std::string::npos);
    QCOMPARE(llama_file_type_name(18), std::string("Q6_K"));
  }

  // A file the engine cannot run still gets a summary, from raw metadata.
  void model_info_falls_back_to_metadata() {
    gguf::GgufWriter w;
    w.set("general.architecture", "gpt2");
    w.set("gpt2.embedding_length", gguf::Value(uint32_t{64}));
    w.set("gpt2.block_count", gguf::Value(uint32_t{3}));
    w.set("gpt2.attention.head_count", gguf::Value(uint32_t{4}));
    w.set("general.file_type", gguf::Value(uint32_t{1}));
    const std::vector<uint8_t> zeros(64 * 10 * 2, 0);
    w.add_tensor("token_embd.weight", DType::F16, {64, 10}, zeros);
    const auto file = gguf::GgufFile::from_bytes(w.write_to_bytes());
    const auto info = read_model_info(file);
    QCOMPARE(info.shapes.source, std::string("metadata"));
    QVERIFY(!info.shapes.config_error.empty());
    QCOMPARE(info.shapes.n_embd, int64_t{64});
    QCOMPARE(info.shapes.n_layer, int64_t{3});
    QCOMPARE(info.shapes.head_dim, int64_t{16});
    QCOMPARE(info.shapes.n_vocab, int64_t{10});
    QCOMPARE(info.parameter_count, uint64_t{640});
    QCOMPARE(info.file_type_name, std::string("F16"));
    QVERIFY(!info.has_chat_template);
    QCOMPARE(info.vocab_size, uint64_t{0});
    QVERIFY(format_model_info(info).find("not runnable") != std::string::npos);
  }

 private:
  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::filesystem::path dir_;
};

QTEST_APPLESS_MAIN(TestSynthQuantize)
#include "test_synth_quantize.moc"
