#pragma once
// A constraint on what a request may generate (JSON mode, tool-call grammars, ...): before each
// token is sampled the engine lets the constraint mask the logits, and after it tells it which
// token was chosen. Built per request, on the submitting thread, from the loaded model's
// tokenizer (the factory in Request), and used only on the engine thread afterwards.
#include <functional>
#include <memory>
#include <span>

#include "core/tokenizer/tokenizer.h"

namespace hearth {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // logits: [n_vocab]; set every token that may not come next to -inf. Leaving no token allowed
  // makes the request finish with "error". End-of-generation tokens are masked here too: allow
  // them only where the constrained output may end.
  virtual void mask(std::span<float> logits) = 0;
  // The token chosen from the masked logits; advances the constraint's state.
  virtual void accept(TokenId token) = 0;
  // The output is complete and nothing more may follow: the engine finishes the request with
  // "stop" after this token.
  virtual bool complete() const = 0;
};

// Called once per request at submit() with the loaded model's tokenizer (which outlives the
// request). May throw hearth::Error (for example an unusable schema): submit() rethrows it.
using TokenConstraintFactory = std::function<std::unique_ptr<TokenConstraint>(const Tokenizer&)>;

}  // namespace hearth
