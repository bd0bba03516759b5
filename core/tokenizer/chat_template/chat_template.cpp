#include "core/tokenizer/chat_template/chat_template.h"

#include "core/tokenizer/chat_template/parser.h"
#include "core/tokenizer/chat_template/renderer.h"

namespace hearth {

std::string render_chat_template(std::string_view source, const TemplateInputs& inputs, const TemplateLimits& limits) {
  using namespace chat_template;
  if (source.size() > limits.max_template_bytes)
    throw Error("chat template: " + std::to_string(source.size()) + " bytes exceeds the limit of " +
                std::to_string(limits.max_template_bytes));
  const NodeList program = parse_template(source, limits.max_nesting_depth);

  ValueList messages;
  for (const ChatMessage& m : inputs.messages)
    messages.emplace_back(ValueDict{{"role", Value(m.role)}, {"content", Value(m.content)}});
  ValueDict globals;
  globals.emplace_back("messages", Value(std::move(messages)));
  globals.emplace_back("add_generation_prompt", Value(inputs.add_generation_prompt));
  globals.emplace_back("bos_token", Value(inputs.bos_token));
  globals.emplace_back("eos_token", Value(inputs.eos_token));
  for (const auto& [name, value] : inputs.extra) {
    bool replaced = false;
    for (auto& [k, v] : globals)
      if (k == name) { v = value; replaced = true; }
    if (!replaced) globals.emplace_back(name, value);
  }
  return render(program, globals, limits);
}

}  // namespace hearth
