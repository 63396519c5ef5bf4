// SPDX-License-Identifier: Apache-2.0
// Autograd for varattn::varlen_attention, in C++ (the Autograd dispatch key): the forward op
// below autograd, then varattn::varlen_attention_backward for dq, dk and dv. Written here
// rather than with torch.library.register_autograd because that Python path cost ~170 us of
// host time a forward and ~400 us a backward on the H200 machine (bench/op_overhead.py,
// vl-window-d80: 630 us of host time a fwd+bwd against 97 us for the two ops called
// directly), which made short-segment training steps host-bound. torch.compile traces it as
// any dispatcher op with an autograd kernel: both ops have fake implementations
// (varattn/__init__.py).

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The op's arguments after q, k, v and the offsets, as the schema orders them.
struct options {
  bool causal;
  std::optional<double> scale;
  std::optional<int64_t> max_seqlen_q;
  std::optional<int64_t> max_seqlen_k;
  int64_t window_left;
  int64_t window_right;
  double softcap;
  bool return_lse;
  bool deterministic;
};

constexpr int kInputs = 14;  // the forward op's arguments; backward returns a gradient each

std::tuple<at::Tensor, at::Tensor> forward_op(const at::Tensor& q, const at::Tensor& k,
                                              const at::Tensor& v, const at::Tensor& cu_q,
                                              const at::Tensor& cu_k, const options& o) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("varattn::varlen_attention", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, bool, std::optional<double>, std::optional<int64_t>,
              std::optional<int64_t>, int64_t, int64_t, double, bool, bool)>();
  return op.call(q, k, v, cu_q, cu_k, o.causal, o.scale, o.max_seqlen_q, o.max_seqlen_k,
                 o.window_left, o.window_right, o.softcap, o.return_lse, o.deterministic);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_op(
    const at::Tensor& d_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& cu_q, const at::Tensor& cu_k,
    const options& o) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("varattn::varlen_attention_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, bool,
              std::optional<double>, std::optional<int64_t>, int64_t, int64_t, double, bool)>();
  return op.call(d_out, q, k, v, out, lse, cu_q, cu_k, o.causal, o.scale, o.max_seqlen_q,
                 o.window_left, o.window_right, o.softcap, o.deterministic);
}

struct varlen_attention_function : torch::autograd::Function<varlen_attention_function> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                               const at::Tensor& v, const at::Tensor& cu_q,
                               const at::Tensor& cu_k, bool causal, std::optional<double> scale,
                               std::optional<int64_t> max_seqlen_q,
                               std::optional<int64_t> max_seqlen_k, int64_t window_left,
                               int64_t window_right, double softcap, bool return_lse,
                               bool deterministic) {
    const options o{causal,      scale,        max_seqlen_q, max_seqlen_k, window_left,
                    window_right, softcap,     return_lse,   deterministic};
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, lse] = forward_op(q, k, v, cu_q, cu_k, o);
    ctx->save_for_backward({q, k, v, out, lse, cu_q, cu_k});
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["max_seqlen_q"] = max_seqlen_q;
    ctx->saved_data["window_left"] = window_left;
    ctx->saved_data["window_right"] = window_right;
    ctx->saved_data["softcap"] = softcap;
    // The forward ignores it; it picks how the backward sums dq.
    ctx->saved_data["deterministic"] = deterministic;
    ctx->mark_non_differentiable({lse});  // as FlashAttention's softmax_lse
    ctx->set_materialize_grads(false);    // lse's gradient stays undefined, never a zeros tensor
    return {out, lse};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list input_grads(kInputs);  // undefined: no gradient
    if (!grads[0].defined()) return input_grads;  // out unused by the loss
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& lse = saved[4];
    TORCH_CHECK(lse.dim() == 2,
                "varattn::varlen_attention: the backward needs the forward's logsumexp; call the "
                "op with return_lse=True when q, k or v requires grad (varattn.varlen_attention "
                "and flash_attn_varlen_func do)");
    auto& data = ctx->saved_data;
    options o{};
    o.causal = data["causal"].toBool();
    o.scale = data["scale"].toOptional<double>();
    o.max_seqlen_q = data["max_seqlen_q"].toOptional<int64_t>();
    o.window_left = data["window_left"].toInt();
    o.window_right = data["window_right"].toInt();
    o.softcap = data["softcap"].toDouble();
    o.deterministic = data["deterministic"].toBool();
    auto [d_q, d_k, d_v] =
        backward_op(grads[0], saved[0], saved[1], saved[2], saved[3], lse, saved[5], saved[6], o);
    input_grads[0] = d_q;
    input_grads[1] = d_k;
    input_grads[2] = d_v;
    return input_grads;
  }
};

std::tuple<at::Tensor, at::Tensor> varlen_attention_autograd(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_q,
    const at::Tensor& cu_k, bool causal, std::optional<double> scale,
    std::optional<int64_t> max_seqlen_q, std::optional<int64_t> max_seqlen_k, int64_t window_left,
    int64_t window_right, double softcap, bool return_lse, bool deterministic) {
  const variable_list result = varlen_attention_function::apply(
      q, k, v, cu_q, cu_k, causal, scale, max_seqlen_q, max_seqlen_k, window_left, window_right,
      softcap, return_lse, deterministic);
  return {result[0], result[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(varattn, Autograd, m) {
  m.impl("varlen_attention", &varlen_attention_autograd);
}
