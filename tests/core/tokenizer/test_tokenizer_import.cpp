// convert-tokenizer's import code on small hand-made inputs (what each field becomes), on inputs
// it must reject with a clear error, and on 1,000+ random mutations of valid inputs (seeded, the
// seed is printed): each either imports or throws hearth::Error, never anything else, never a
// crash (run under ASan/UBSan too). Llama 2's SentencePiece .model is parsed field by field.
#include <QTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/tokenizer_import.h"
#include "tests/core/tokenizer/spm_reference_vocab.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;
using nlohmann::json;

namespace {

// A byte-level tokenizer.json: the 256 byte characters, "he", "ll", "hell", "Ġhell" by merges,
// <|bos|> / <|end|> special added tokens, <think> a non-special added token.
json byte_level_tokenizer_json() {
  const ByteLevelMap bytes;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes.char_of(static_cast<uint8_t>(b))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab[bytes.char_of(' ') + "hell"] = 259;
  json merges = json::array({"h e", json::array({"l", "l"}), "he ll", bytes.char_of(' ') + " hell"});
  const auto added = [](int id, const char* text, bool special) {
    return json{{"id", id}, {"content", text}, {"special", special}, {"lstrip", false}, {"rstrip", false},
                {"normalized", false}, {"single_word", false}};
  };
  return {
      {"version", "1.0"},
      {"added_tokens", json::array({added(260, "<|bos|>", true), added(261, "<|end|>", true), added(262, "<think>", false)})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({json{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", json::array({260})}, {"tokens", json::array({"<|bos|>"})}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false},
                 {"vocab", vocab}, {"merges", merges}}},
  };
}

json byte_level_config() {
  return {{"bos_token", {{"content", "<|bos|>"}, {"lstrip", false}}},
          {"eos_token", "<|end|>"},
          {"chat_template", json::array({json{{"name", "tool_use"}, {"template", "T"}}, json{{"name", "default"}, {"template", "D"}}})}};
}

// A SentencePiece-style (Llama 2 / Gemma) tokenizer.json with byte fallback.
json spm_tokenizer_json(bool dummy_prefix) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  vocab["\xE2\x96\x81"] = 259;
  vocab["a"] = 260;
  vocab["b"] = 261;
  vocab["ab"] = 262;
  vocab["\xE2\x96\x81" "ab"] = 263;
  json normalizers = json::array();
  if (dummy_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}});
  return {
      {"added_tokens", json::array({json{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                    json{{"id", 1}, {"content", "<s>"}, {"special", true}},
                                    json{{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", normalizers}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}, {"vocab", vocab},
                 {"merges", json::array({"a b", "\xE2\x96\x81 ab"})}}},
  };
}

std::unique_ptr<Tokenizer> through_gguf(const ImportedTokenizer& imported) {
  gguf::GgufWriter writer;
  add_tokenizer_metadata(writer, imported, "test");
  return Tokenizer::from_gguf(gguf::GgufFile::from_bytes(writer.write_to_bytes()));
}

// Expects import to throw a FormatError whose message contains `needle`.
void expect_rejected(const json& tokenizer, const json& config, const std::string& needle) {
  try {
    import_hf_tokenizer(tokenizer.dump(), config.is_null() ? std::string() : config.dump());
  } catch (const FormatError& e) {
    QVERIFY2(std::string(e.what()).find(needle) != std::string::npos,
             (std::string("message \"") + e.what() + "\" lacks \"" + needle + "\"").c_str());
    return;
  }
  QFAIL(("accepted; expected an error about " + needle).c_str());
}

// A random JSON value of any type (for structural mutations).
json random_value(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return nullptr;
    case 1: return static_cast<int64_t>(rng() % 3 == 0 ? -1 : rng() % 600);
    case 2: return rng() % 2 == 0;
    case 3: return "x y";
    case 4: return json::array({"a", 1});
    case 5: return json::object({{"type", "Sequence"}});
    case 6: return 1e300;
    default: return std::string(rng() % 4, 'l');
  }
}

// Replaces or deletes one random node of `j` (walking a random path down).
void mutate(json& j, std::mt19937_64& rng) {
  json* node = &j;
  for (int depth = 0; depth < 8; ++depth) {
    if (!(node->is_object() || node->is_array()) || node->empty() || rng() % 4 == 0) break;
    auto it = node->begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng() % node->size()));
    if (rng() % 6 == 0) {  // delete this child
      if (node->is_object()) node->erase(it.key());
      else node->erase(static_cast<size_t>(std::distance(node->begin(), it)));
      return;
    }
    node = &*it;
  }
  *node = random_value(rng);
}

}  // namespace

class TestTokenizerImport : public QObject {
  Q_OBJECT

 private slots:
  void byte_level_fields() {
    const ImportedTokenizer t = import_hf_tokenizer(byte_level_tokenizer_json().dump(), byte_level_config().dump());
    const Vocabulary& v = t.vocab;
    QCOMPARE(v.model, TokenizerModel::kByteLevelBpe);
    QCOMPARE(v.pre, std::string("gpt2"));
    QCOMPARE(v.size(), 263);
    QCOMPARE(v.type_of(260), TokenType::kControl);
    QCOMPARE(v.type_of(262), TokenType::kUserDefined);
    QCOMPARE(v.type_of(258), TokenType::kNormal);
    QCOMPARE(v.bos, 260);
    QCOMPARE(v.eos, 261);
    QVERIFY(v.add_bos);
    QVERIFY(!v.add_eos);
    QCOMPARE(v.merges.size(), size_t{4});
    QCOMPARE(v.merges[1], std::string("l l"));
    QCOMPARE(t.chat_template, std::string("D"));
    QCOMPARE(t.named_chat_templates.size(), size_t{1});
    QCOMPARE(v.eot, -1);  // <|end|> is the EOS here, so there is no separate EOT

    const auto tok = through_gguf(t);
    QCOMPARE(tok->encode("hell hell", true, false), (std::vector<TokenId>{260, 258, 259}));
    // Control tokens only from trusted text; user-defined ones always (as Hugging Face does).
    QCOMPARE(tok->encode("<|end|><think>", false, true), (std::vector<TokenId>{261, 262}));
    const auto plain = tok->encode("<|end|><think>", false, false);
    QCOMPARE(plain.back(), 262);
    QCOMPARE(plain.size(), std::string("<|end|>").size() + 1);
    QCOMPARE(tok->decode({260, 258, 262}, true), std::string("<|bos|>hell<think>"));
    QCOMPARE(tok->decode({260, 258, 262}, false), std::string("hell<think>"));
  }

  void sentencepiece_style_fields() {
    for (bool prefix : {true, false}) {
      const ImportedTokenizer t = import_hf_tokenizer(spm_tokenizer_json(prefix).dump(), "");
      const Vocabulary& v = t.vocab;
      QCOMPARE(v.model, TokenizerModel::kSentencePiece);
      QCOMPARE(v.add_space_prefix, prefix);
      QCOMPARE(v.unk, 0);
      QCOMPARE(v.type_of(0), TokenType::kUnknown);
      QCOMPARE(v.type_of(1), TokenType::kControl);
      QCOMPARE(v.type_of(3 + 0x41), TokenType::kByte);
      QVERIFY(!v.add_bos);  // no post_processor template
      const auto tok = through_gguf(t);
      // "ab" merges by rank; "c" is no piece, so it falls back to its byte.
      const std::vector<TokenId> want = prefix ? std::vector<TokenId>{263, 3 + 'c'} : std::vector<TokenId>{262, 3 + 'c'};
      QCOMPARE(tok->encode("abc", false, false), want);
      QCOMPARE(tok->decode(want), std::string("abc"));
    }
  }

  void rejects_what_it_cannot_reproduce() {
    const json good = byte_level_tokenizer_json();
    const json config = byte_level_config();
    json t = good;
    t["model"]["type"] = "Unigram";
    expect_rejected(t, config, "Unigram");
    t = good;
    t["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", json::array({json{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}, {"invert", false}},
                                                         json{{"type", "ByteLevel"}, {"use_regex", false}}})}};
    expect_rejected(t, config, "unknown pre-tokenizer");
    t = good;
    t["pre_tokenizer"] = {{"type", "Whitespace"}};
    expect_rejected(t, config, "Whitespace");
    t = good;
    t["normalizer"] = {{"type", "NFKC"}};
    expect_rejected(t, config, "NFKC");
    t = good;
    t["added_tokens"][0]["lstrip"] = true;
    expect_rejected(t, config, "lstrip");
    t = good;
    t["model"]["vocab"]["he"] = 1 << 30;
    expect_rejected(t, config, "out of range");
    t = good;
    t["model"]["vocab"]["zz"] = 5;
    expect_rejected(t, config, "names two tokens");
    t = good;
    t["model"]["merges"].push_back(json::array({1, 2}));
    expect_rejected(t, config, "merges[4]");
    t = good;
    t["model"]["merges"].push_back("q z");
    expect_rejected(t, config, "merge 4");
    t = good;
    t["post_processor"] = {{"type", "BertProcessing"}};
    expect_rejected(t, config, "BertProcessing");
    t = good;
    t["model"]["ignore_merges"] = true;
    expect_rejected(t, config, "ignore_merges");
    json c = config;
    c["eos_token"] = "<|nope|>";
    expect_rejected(good, c, "<|nope|>");
    c = config;
    c["chat_template"] = 7;
    expect_rejected(good, c, "chat_template");
    // Not JSON, the wrong top level, and nesting deep enough to threaten a recursive parser.
    for (const std::string& text : {std::string("{\"model\": "), std::string("[1, 2]"), std::string(100000, '[')}) {
      QVERIFY_THROWS_EXCEPTION(FormatError, import_hf_tokenizer(text, ""));
    }
  }

  void random_mutations_fail_cleanly() {
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    const json bases[] = {byte_level_tokenizer_json(), spm_tokenizer_json(true)};
    const json config = byte_level_config();
    int imported = 0, rejected = 0;
    for (int i = 0; i < 1200; ++i) {
      json t = bases[i % 2];
      json c = config;
      for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) mutate(rng() % 5 == 0 ? c : t, rng);
      std::string text = t.dump();
      if (rng() % 4 == 0) {  // byte-level damage too: truncation or a flipped byte
        if (rng() % 2 == 0) text.resize(rng() % text.size());
        else text[rng() % text.size()] ^= static_cast<char>(1 + rng() % 255);
      }
      try {
        const ImportedTokenizer result = import_hf_tokenizer(text, i % 2 == 0 ? c.dump() : std::string());
        through_gguf(result)->encode("hello ab <|end|>", true, true);
        ++imported;
      } catch (const Error&) {
        ++rejected;  // a clear hearth error: fine
      } catch (const std::exception& e) {
        QFAIL((std::string("iteration ") + std::to_string(i) + " threw a non-hearth exception: " + e.what()).c_str());
      }
    }
    qInfo("%d mutated inputs imported, %d rejected with a clear error", imported, rejected);
    QVERIFY(rejected > 0);
  }

  void sentencepiece_model_file() {
    const std::string path = std::string(HEARTH_SHARED_DIR) + "/data/tokenizers/llama2-tokenizer.model";
    if (!std::filesystem::exists(path)) QSKIP("shared/data/tokenizers/llama2-tokenizer.model is missing");
    const ImportedTokenizer t = import_sentencepiece_model_file(path);
    const Vocabulary& v = t.vocab;
    QCOMPARE(v.size(), 32000);
    QCOMPARE(v.tokens[0], std::string("<unk>"));
    QCOMPARE(v.type_of(0), TokenType::kUnknown);
    QCOMPARE(v.type_of(1), TokenType::kControl);
    QCOMPARE(v.tokens[3], std::string("<0x00>"));
    QCOMPARE(v.type_of(3), TokenType::kByte);
    QCOMPARE(v.bos, 1);
    QCOMPARE(v.eos, 2);
    QCOMPARE(v.unk, 0);
    QCOMPARE(v.pad, -1);
    QVERIFY(v.add_bos);
    QVERIFY(v.add_space_prefix);
    QVERIFY(v.merges.empty());
    // Every piece, type and score equals what python3-sentencepiece reports.
    QTemporaryDir dir;
    test::write_hex_lines(dir.path().toStdString() + "/inputs.txt", {});
    const auto script = test::run_python("spm_reference.py", {QString::fromStdString(path), dir.path() + "/inputs.txt", dir.path()});
    if (script.ran && script.exit_code == 0) {
      const Vocabulary ref = test::load_spm_reference_vocab(dir.path().toStdString() + "/vocab.tsv");
      QCOMPARE(ref.tokens, v.tokens);
      QCOMPARE(ref.scores, v.scores);
      QCOMPARE(ref.types, v.types);
    } else {
      qWarning("python3-sentencepiece unavailable: pieces not compared (%s)", script.output.c_str());
    }

    // Truncations and flipped bytes: a FormatError or a valid vocabulary, never a crash.
    const std::string bytes = test::read_file(path);
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    int rejected = 0;
    for (int i = 0; i < 300; ++i) {
      std::string damaged = bytes;
      if (i % 2 == 0) damaged.resize(rng() % damaged.size());
      for (int n = 0; n < 1 + i % 4; ++n) damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
      try {
        import_sentencepiece_model({reinterpret_cast<const uint8_t*>(damaged.data()), damaged.size()});
      } catch (const Error&) {
        ++rejected;
      }
    }
    qInfo("%d of 300 damaged models rejected", rejected);
    // A unigram model (trainer_spec.model_type = 1) is refused by name.
    const std::string unigram = std::string("\x0a\x08\x0a\x01" "a" "\x15\x00\x00\x00\x00", 10) + std::string("\x12\x02\x18\x01" "\x1a\x02\x20\x00", 8);
    try {
      import_sentencepiece_model({reinterpret_cast<const uint8_t*>(unigram.data()), unigram.size()});
      QFAIL("a unigram model was accepted");
    } catch (const FormatError& e) {
      QVERIFY2(std::string(e.what()).find("model type 1") != std::string::npos, e.what());
    }
  }
};

QTEST_APPLESS_MAIN(TestTokenizerImport)
#include "test_tokenizer_import.moc"
