// Built-in chat templates: what Hearth renders when a model file has no chat template or its
// template fails. Written in the same Jinja subset (so the parity test can check them against
// @huggingface/jinja too) in the formats the model families were trained on. They render message
// contents only (tool calls are the model template's business); a content that is not a string
// renders as empty.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tokenizer/chat_template/chat_renderer.h"

namespace hearth {
namespace {

// Llama 3 / 3.x: header blocks, each turn closed by <|eot_id|>.
constexpr const char* kLlama3 =
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + content | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

// ChatML (Qwen 2 / 2.5 / 3 and many fine-tunes).
constexpr const char* kChatml =
    "{%- for message in messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// Llama 2 chat / Mistral: [INST] ... [/INST], the system prompt folded into the first user turn.
constexpr const char* kLlama2 =
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set system = messages[0]['content'] if messages[0]['content'] is string else '' %}"
    "{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set system = '' %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- ' ' + content | trim + ' ' + eos_token }}"
    "{%- else %}"
    "{%- if loop.first and system %}{%- set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + content %}{%- endif %}"
    "{{- bos_token + '[INST] ' + content | trim + ' [/INST]' }}"
    "{%- endif %}"
    "{%- endfor %}";

// Gemma: <start_of_turn>user / model; system text goes before the next turn's content.
constexpr const char* kGemma =
    "{{- bos_token }}"
    "{%- set ns = namespace(prefix='') %}"
    "{%- for message in messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{%- if message['role'] == 'system' %}"
    "{%- set ns.prefix = ns.prefix + content + '\\n\\n' %}"
    "{%- else %}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{- '<start_of_turn>' + role + '\\n' + ns.prefix + content | trim + '<end_of_turn>\\n' }}"
    "{%- set ns.prefix = '' %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}";

// Anything else: readable role-prefixed turns.
constexpr const char* kPlain =
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{{- message['role'] + ': ' + content + '\\n\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- 'assistant: ' }}{%- endif %}";

bool contains(const std::vector<std::string>& texts, std::string_view t) {
  return std::find(texts.begin(), texts.end(), t) != texts.end();
}

}  // namespace

std::pair<std::string, std::string> builtin_chat_template(std::string_view arch, std::string_view bos_text,
                                                          std::string_view eos_text,
                                                          const std::vector<std::string>& special_texts) {
  // The vocabulary says most reliably which format a model was trained on; the architecture next.
  if (contains(special_texts, "<|start_header_id|>") && contains(special_texts, "<|eot_id|>")) return {"llama3", kLlama3};
  if (contains(special_texts, "<|im_start|>") && contains(special_texts, "<|im_end|>")) return {"chatml", kChatml};
  if (contains(special_texts, "<start_of_turn>")) return {"gemma", kGemma};
  if (arch == "qwen2" || arch == "qwen3" || arch == "qwen2moe" || arch == "qwen3moe") return {"chatml", kChatml};
  if (arch.starts_with("gemma")) return {"gemma", kGemma};
  if (arch == "llama" && bos_text == "<|begin_of_text|>") return {"llama3", kLlama3};
  if ((arch == "llama" || arch == "mistral") && bos_text == "<s>" && eos_text == "</s>") return {"llama2", kLlama2};
  return {"plain", kPlain};
}

}  // namespace hearth
