// Fused multi-step LIF kernels and spike-driven dense products (CPU, float32 / float64).
//
// Sequences are contiguous (T, B, N): step t, sample b, neuron n; beta and threshold are per neuron (N).
// reset: 0 subtract, 1 zero, 2 none. surrogate: 0 atan, 1 fast_sigmoid, 2 triangle (snn/surrogate.py).
// The arithmetic follows snn.neurons.lif.lif_step operation by operation (compiled without FMA contraction), so
// spikes and gradients equal the autograd reference's.
#include <torch/library.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spikeforge kernels: active_columns assumes a little-endian target"
#endif

namespace {

constexpr int64_t GRAIN = 4096;  // neurons x samples per parallel chunk

void check_sequence(const at::Tensor& x, const char* name) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && x.dim() >= 2, "spikeforge: ", name,
              ": expected a contiguous CPU tensor of shape (T, B, ...), got ", x.sizes());
}

int64_t row_grain(int64_t n) { return std::max<int64_t>(1, GRAIN / std::max<int64_t>(n, 1)); }

template <typename scalar_t, int SURROGATE>
inline scalar_t surrogate_grad(scalar_t x, scalar_t a, scalar_t c, scalar_t half_a) {
  if (SURROGATE == 0) {  // (a / 2) / (1 + (pi / 2 * a * x)^2), c = pi / 2 * a
    const scalar_t u = c * x;
    return half_a / (scalar_t(1) + u * u);
  } else if (SURROGATE == 1) {  // 1 / (1 + a |x|)^2
    const scalar_t d = scalar_t(1) + a * std::abs(x);
    return scalar_t(1) / (d * d);
  } else {  // a * max(0, 1 - a |x|)
    const scalar_t r = scalar_t(1) - a * std::abs(x);
    return a * (r > scalar_t(0) ? r : scalar_t(0));
  }
}

// One step of the membrane for one sample's N neurons; writes the spikes, returns nothing (v updated in place).
template <typename scalar_t, int RESET>
inline void membrane_step(const scalar_t* x, scalar_t* __restrict v, scalar_t* out,
                          const scalar_t* __restrict beta, const scalar_t* __restrict th, int64_t N, bool pre) {
  // pre: write the pre-reset membrane to out instead of the spikes (the backward pass re-runs the forward); out may
  // be x itself (each x[n] is read before out[n] is written)
  for (int64_t n = 0; n < N; ++n) {
    scalar_t u = beta[n] * v[n] + x[n];
    const scalar_t s = (u - th[n]) > scalar_t(0) ? scalar_t(1) : scalar_t(0);
    out[n] = pre ? u : s;
    if (RESET == 0) u = u - s * th[n];
    else if (RESET == 1) u = u * (scalar_t(1) - s);
    v[n] = u;
  }
}

template <typename scalar_t, int RESET>
void forward_rows(const scalar_t* I, scalar_t* out, scalar_t* V, const scalar_t* beta, const scalar_t* th,
                  int64_t T, int64_t B, int64_t N, int64_t b0, int64_t b1, bool pre) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = b0; b < b1; ++b)
      membrane_step<scalar_t, RESET>(I + (t * B + b) * N, V + b * N, out + (t * B + b) * N, beta, th, N, pre);
}

template <typename scalar_t>
void forward_dispatch(int64_t reset, const scalar_t* I, scalar_t* out, scalar_t* V, const scalar_t* beta,
                      const scalar_t* th, int64_t T, int64_t B, int64_t N, int64_t b0, int64_t b1, bool pre) {
  if (reset == 0) forward_rows<scalar_t, 0>(I, out, V, beta, th, T, B, N, b0, b1, pre);
  else if (reset == 1) forward_rows<scalar_t, 1>(I, out, V, beta, th, T, B, N, b0, b1, pre);
  else forward_rows<scalar_t, 2>(I, out, V, beta, th, T, B, N, b0, b1, pre);
}

// Forward into spikes (T, B, ...), which may be current itself; returns the final (post-reset) membrane (B, ...).
at::Tensor lif_forward_into(const at::Tensor& current, const at::Tensor& spikes, const at::Tensor& v0,
                            const at::Tensor& beta, const at::Tensor& threshold, int64_t reset) {
  check_sequence(current, "current");
  const int64_t T = current.size(0), B = current.size(1), N = beta.numel();
  TORCH_CHECK(v0.numel() == B * N && current.numel() == T * B * N && threshold.numel() == N,
              "spikeforge: lif_forward: shapes disagree");
  auto v_out = v0.contiguous().clone();
  const auto b = beta.contiguous(), th = threshold.contiguous();
  AT_DISPATCH_FLOATING_TYPES(current.scalar_type(), "lif_forward", [&] {
    at::parallel_for(0, B, row_grain(N), [&](int64_t lo, int64_t hi) {
      forward_dispatch<scalar_t>(reset, current.data_ptr<scalar_t>(), spikes.data_ptr<scalar_t>(),
                                 v_out.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), th.data_ptr<scalar_t>(), T, B,
                                 N, lo, hi, false);
    });
  });
  return v_out;
}

// Spikes (T, B, ...) (a new tensor) and the final membrane.
std::tuple<at::Tensor, at::Tensor> lif_forward(const at::Tensor& current, const at::Tensor& v0,
                                               const at::Tensor& beta, const at::Tensor& threshold, int64_t reset) {
  auto spikes = at::empty_like(current);
  auto v_out = lif_forward_into(current, spikes, v0, beta, threshold, reset);
  return {spikes, v_out};
}

// The same, overwriting current with the spikes (for a current nobody else holds); returns the final membrane.
at::Tensor lif_forward_(at::Tensor& current, const at::Tensor& v0, const at::Tensor& beta,
                        const at::Tensor& threshold, int64_t reset) {
  return lif_forward_into(current, current, v0, beta, threshold, reset);
}

template <typename scalar_t, int RESET, int SURROGATE, bool DETACH>
void backward_rows(scalar_t* G, const scalar_t* GS, scalar_t* GV, const scalar_t* beta, const scalar_t* th,
                   int64_t T, int64_t B, int64_t N, int64_t b0, int64_t b1, scalar_t a) {
  const scalar_t c = static_cast<scalar_t>(M_PI / 2 * static_cast<double>(a));
  const scalar_t half_a = static_cast<scalar_t>(static_cast<double>(a) / 2);
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = b0; b < b1; ++b) {
      scalar_t* __restrict g = G + (t * B + b) * N;  // pre-reset membrane in, gradient out
      const scalar_t* __restrict gs = GS + (t * B + b) * N;
      scalar_t* __restrict gv = GV + b * N;  // gradient of the post-reset membrane of step t
      for (int64_t n = 0; n < N; ++n) {
        const scalar_t v = g[n], d = v - th[n];
        const scalar_t h = surrogate_grad<scalar_t, SURROGATE>(d, a, c, half_a);
        const scalar_t not_s = d > scalar_t(0) ? scalar_t(0) : scalar_t(1);
        scalar_t through;  // d v_post / d v_pre
        if (RESET == 0) through = DETACH ? scalar_t(1) : scalar_t(1) - h * th[n];
        else if (RESET == 1) through = DETACH ? not_s : not_s - v * h;
        else through = scalar_t(1);
        const scalar_t grad = gs[n] * h + gv[n] * through;
        g[n] = grad;
        gv[n] = grad * beta[n];
      }
    }
  }
}

template <typename scalar_t, int RESET>
void backward_dispatch(int64_t surrogate, bool detach, scalar_t* G, const scalar_t* GS, scalar_t* GV,
                       const scalar_t* beta, const scalar_t* th, int64_t T, int64_t B, int64_t N, int64_t b0,
                       int64_t b1, scalar_t a) {
#define SF_BACKWARD(S, D) backward_rows<scalar_t, RESET, S, D>(G, GS, GV, beta, th, T, B, N, b0, b1, a)
  if (surrogate == 0) { if (detach) SF_BACKWARD(0, true); else SF_BACKWARD(0, false); }
  else if (surrogate == 1) { if (detach) SF_BACKWARD(1, true); else SF_BACKWARD(1, false); }
  else { if (detach) SF_BACKWARD(2, true); else SF_BACKWARD(2, false); }
#undef SF_BACKWARD
}

// Backward through time into grad (T, B, ...), which may be current itself: re-runs the forward to recover the
// pre-reset membrane (each element read before it is overwritten), then walks back. Returns the gradient of the
// initial membrane (B, ...).
at::Tensor lif_backward_into(const at::Tensor& current, const at::Tensor& grad, const at::Tensor& v0,
                             const at::Tensor& beta, const at::Tensor& threshold, int64_t reset,
                             const at::Tensor& grad_spikes, const at::Tensor& grad_v_final, int64_t surrogate,
                             double slope, bool detach_reset) {
  check_sequence(current, "current");
  check_sequence(grad_spikes, "grad_spikes");
  const int64_t T = current.size(0), B = current.size(1), N = beta.numel();
  TORCH_CHECK(grad_spikes.sizes() == current.sizes() && grad_v_final.numel() == B * N && v0.numel() == B * N,
              "spikeforge: lif_backward: shapes disagree");
  auto v = v0.contiguous().clone();
  auto grad_v0 = grad_v_final.contiguous().clone();
  const auto b = beta.contiguous(), th = threshold.contiguous();
  AT_DISPATCH_FLOATING_TYPES(current.scalar_type(), "lif_backward", [&] {
    scalar_t* G = grad.data_ptr<scalar_t>();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    const scalar_t* tp = th.data_ptr<scalar_t>();
    const scalar_t a = static_cast<scalar_t>(slope);
    at::parallel_for(0, B, row_grain(N), [&](int64_t lo, int64_t hi) {
      forward_dispatch<scalar_t>(reset, current.data_ptr<scalar_t>(), G, v.data_ptr<scalar_t>(), bp, tp, T, B, N, lo,
                                 hi, true);
      const scalar_t* GS = grad_spikes.data_ptr<scalar_t>();
      scalar_t* GV = grad_v0.data_ptr<scalar_t>();
      if (reset == 0) backward_dispatch<scalar_t, 0>(surrogate, detach_reset, G, GS, GV, bp, tp, T, B, N, lo, hi, a);
      else if (reset == 1) backward_dispatch<scalar_t, 1>(surrogate, detach_reset, G, GS, GV, bp, tp, T, B, N, lo, hi, a);
      else backward_dispatch<scalar_t, 2>(surrogate, detach_reset, G, GS, GV, bp, tp, T, B, N, lo, hi, a);
    });
  });
  return grad_v0;
}

// The gradients of the input current (a new tensor) and of the initial membrane.
std::tuple<at::Tensor, at::Tensor> lif_backward(const at::Tensor& current, const at::Tensor& v0,
                                                const at::Tensor& beta, const at::Tensor& threshold, int64_t reset,
                                                const at::Tensor& grad_spikes, const at::Tensor& grad_v_final,
                                                int64_t surrogate, double slope, bool detach_reset) {
  auto grad = at::empty_like(current);
  auto grad_v0 = lif_backward_into(current, grad, v0, beta, threshold, reset, grad_spikes, grad_v_final, surrogate,
                                   slope, detach_reset);
  return {grad, grad_v0};
}

// The same, overwriting current with its gradient (for a current nobody else holds); returns the initial
// membrane's gradient.
at::Tensor lif_backward_(at::Tensor& current, const at::Tensor& v0, const at::Tensor& beta,
                         const at::Tensor& threshold, int64_t reset, const at::Tensor& grad_spikes,
                         const at::Tensor& grad_v_final, int64_t surrogate, double slope, bool detach_reset) {
  return lif_backward_into(current, current, v0, beta, threshold, reset, grad_spikes, grad_v_final, surrogate, slope,
                           detach_reset);
}

// out[:N] += the sum of the rows src[idx[i], :N] for i < count. The columns go BLOCK at a time through vector
// registers (GCC vector extensions: the widest the target has), so each row of src is read once per block.
template <typename scalar_t>
inline void sum_rows(scalar_t* __restrict out, const scalar_t* __restrict src, const int32_t* __restrict idx,
                     int64_t count, int64_t N) {
  typedef scalar_t vec __attribute__((vector_size(64)));
  constexpr int64_t LANES = 64 / sizeof(scalar_t), VECTORS = 8, BLOCK = VECTORS * LANES;
  int64_t n0 = 0;
  for (; n0 + BLOCK <= N; n0 += BLOCK) {
    vec acc[VECTORS];
    for (int64_t j = 0; j < VECTORS; ++j) std::memcpy(&acc[j], out + n0 + j * LANES, 64);
    for (int64_t i = 0; i < count; ++i) {
      const scalar_t* row = src + idx[i] * N + n0;
      for (int64_t j = 0; j < VECTORS; ++j) {
        vec v;
        std::memcpy(&v, row + j * LANES, 64);
        acc[j] += v;
      }
    }
    for (int64_t j = 0; j < VECTORS; ++j) std::memcpy(out + n0 + j * LANES, &acc[j], 64);
  }
  for (int64_t i = 0; i < count; ++i) {
    const scalar_t* row = src + idx[i] * N;
    for (int64_t n = n0; n < N; ++n) out[n] += row[n];
  }
}

// For each 8-bit mask, the positions of its set bits in increasing order (the rest of each entry unused).
struct BitPositions {
  uint8_t at[256][8];
  BitPositions() {
    for (int mask = 0; mask < 256; ++mask)
      for (int bit = 0, n = 0; bit < 8; ++bit)
        if (mask >> bit & 1) at[mask][n++] = static_cast<uint8_t>(bit);
  }
};
const BitPositions BIT_POSITIONS;

// The columns k of a 0/1 uint8 row xr (length K) that hold a one, in increasing order, written to active (room for
// K + 8 entries: eight are written per eight columns, the count advances by the ones); returns how many. Branch-free:
// the low bits of eight bytes are gathered into a mask by one multiplication, a table gives their positions.
inline int64_t active_columns(const uint8_t* __restrict xr, int64_t K, int32_t* __restrict active) {
  int64_t count = 0, k = 0;
  for (; k + 8 <= K; k += 8) {
    uint64_t word;
    std::memcpy(&word, xr + k, 8);
    const unsigned mask = static_cast<unsigned>((word * 0x0102040810204080ULL) >> 56);  // bit j = byte j
    const uint8_t* at = BIT_POSITIONS.at[mask];
    for (int j = 0; j < 8; ++j) active[count + j] = static_cast<int32_t>(k + at[j]);
    count += __builtin_popcount(mask);
  }
  for (; k < K; ++k) {
    active[count] = static_cast<int32_t>(k);
    count += xr[k];
  }
  return count;
}

void check_csr(const at::Tensor& cols, const at::Tensor& row_ptr, const char* op) {
  TORCH_CHECK(cols.scalar_type() == at::kInt && cols.dim() == 1 && cols.is_contiguous() &&
                  row_ptr.scalar_type() == at::kLong && row_ptr.dim() == 1 && row_ptr.is_contiguous() &&
                  row_ptr.numel() >= 1,
              "spikeforge: ", op, ": expected int32 column indices and int64 row offsets (from spike_csr)");
}

// The ones of a 0/1 uint8 matrix x (R, K) in compressed sparse rows: the columns of row r are
// cols[row_ptr[r] .. row_ptr[r + 1]), in increasing order.
std::tuple<at::Tensor, at::Tensor> spike_csr(const at::Tensor& x) {
  TORCH_CHECK(x.scalar_type() == at::kByte && x.dim() == 2 && x.is_contiguous(),
              "spikeforge: spike_csr: x: expected a contiguous uint8 matrix (R, K), got ", x.scalar_type(), " ",
              x.sizes());
  const int64_t R = x.size(0), K = x.size(1);
  TORCH_CHECK(K < (int64_t(1) << 31), "spikeforge: spike_csr: at most 2^31 - 1 columns, got ", K);
  const uint8_t* X = x.data_ptr<uint8_t>();
  auto row_ptr = at::empty({R + 1}, x.options().dtype(at::kLong));
  int64_t* P = row_ptr.data_ptr<int64_t>();
  P[0] = 0;
  at::parallel_for(0, R, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t count = 0;
      for (int64_t k = 0; k < K; ++k) count += X[r * K + k];
      P[r + 1] = count;
    }
  });
  for (int64_t r = 0; r < R; ++r) P[r + 1] += P[r];
  auto cols = at::empty({P[R]}, x.options().dtype(at::kInt));
  int32_t* C = cols.data_ptr<int32_t>();
  at::parallel_for(0, R, 64, [&](int64_t lo, int64_t hi) {
    std::vector<int32_t> active(K + 8);
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t count = active_columns(X + r * K, K, active.data());
      std::memcpy(C + P[r], active.data(), count * sizeof(int32_t));
    }
  });
  return {cols, row_ptr};
}

// out (R, N) = x @ weight_t (K, N) [+ bias] for a 0/1 matrix x given as spike_csr: each row sums the rows of
// weight_t picked by its ones.
at::Tensor csr_linear(const at::Tensor& cols, const at::Tensor& row_ptr, const at::Tensor& weight_t,
                      const c10::optional<at::Tensor>& bias) {
  check_csr(cols, row_ptr, "csr_linear");
  TORCH_CHECK(weight_t.dim() == 2 && weight_t.is_contiguous(), "spikeforge: csr_linear: weight_t: expected (K, N)");
  const int64_t R = row_ptr.numel() - 1, N = weight_t.size(1);
  auto out = at::empty({R, N}, weight_t.options());
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::zeros({N}, weight_t.options());
  AT_DISPATCH_FLOATING_TYPES(weight_t.scalar_type(), "csr_linear", [&] {
    const int32_t* C = cols.data_ptr<int32_t>();
    const int64_t* P = row_ptr.data_ptr<int64_t>();
    const scalar_t* W = weight_t.data_ptr<scalar_t>();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, R, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        scalar_t* o = O + r * N;
        for (int64_t n = 0; n < N; ++n) o[n] = bp[n];
        sum_rows(o, W, C + P[r], P[r + 1] - P[r], N);
      }
    });
  });
  return out;
}

// out (K, N) = x^T @ grad (R, N) for a 0/1 matrix x (R, K) given as spike_csr: the weight gradient of csr_linear;
// for each input k, the sum of the gradient rows where k spiked (the rows regrouped by column first).
at::Tensor csr_weight_grad(const at::Tensor& cols, const at::Tensor& row_ptr, const at::Tensor& grad, int64_t K) {
  check_csr(cols, row_ptr, "csr_weight_grad");
  const int64_t R = row_ptr.numel() - 1, N = grad.size(1), nnz = cols.numel();
  TORCH_CHECK(grad.dim() == 2 && grad.is_contiguous() && grad.size(0) == R,
              "spikeforge: csr_weight_grad: grad: expected contiguous (R, N) with R = ", R);
  TORCH_CHECK(R < (int64_t(1) << 31), "spikeforge: csr_weight_grad: at most 2^31 - 1 rows, got ", R);
  const int32_t* C = cols.data_ptr<int32_t>();
  const int64_t* P = row_ptr.data_ptr<int64_t>();
  std::vector<int64_t> start(K + 1, 0);
  for (int64_t i = 0; i < nnz; ++i) {
    TORCH_CHECK(C[i] >= 0 && C[i] < K, "spikeforge: csr_weight_grad: column ", C[i], " outside [0, ", K, ")");
    ++start[C[i] + 1];
  }
  for (int64_t k = 0; k < K; ++k) start[k + 1] += start[k];
  std::vector<int32_t> rows(nnz);
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = P[r]; i < P[r + 1]; ++i) rows[fill[C[i]]++] = static_cast<int32_t>(r);
  auto out = at::zeros({K, N}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "csr_weight_grad", [&] {
    const scalar_t* G = grad.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, K, 4, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) sum_rows(O + k * N, G, rows.data() + start[k], start[k + 1] - start[k], N);
    });
  });
  return out;
}

// x as uint8 (same shape) and its number of ones; -1 when some value is neither 0 nor 1 (then x is not a spike
// tensor and the uint8 copy is meaningless).
std::tuple<at::Tensor, int64_t> spike_pack(const at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous(), "spikeforge: spike_pack: expected a contiguous CPU tensor");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kByte));
  const int64_t n = x.numel();
  std::atomic<int64_t> ones{0}, others{0};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spike_pack", [&] {
    const scalar_t* X0 = x.data_ptr<scalar_t>();
    uint8_t* O0 = out.data_ptr<uint8_t>();
    at::parallel_for(0, n, 1 << 16, [&](int64_t lo, int64_t hi) {
      const scalar_t* __restrict X = X0;
      uint8_t* __restrict O = O0;
      int64_t count = 0, bad = 0;
      for (int64_t i = lo; i < hi; ++i) {
        const scalar_t v = X[i];
        const int64_t one = v == scalar_t(1), zero = v == scalar_t(0);
        O[i] = static_cast<uint8_t>(one);
        count += one;
        bad += 1 - (one | zero);
      }
      ones += count;
      others += bad;
    });
  });
  return {out, others.load() ? int64_t(-1) : ones.load()};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(spikeforge, m) {
  m.def("lif_forward(Tensor current, Tensor v0, Tensor beta, Tensor threshold, int reset) -> (Tensor, Tensor)");
  m.def("lif_backward(Tensor current, Tensor v0, Tensor beta, Tensor threshold, int reset, Tensor grad_spikes, "
        "Tensor grad_v_final, int surrogate, float slope, bool detach_reset) -> (Tensor, Tensor)");
  m.def("lif_forward_(Tensor(a!) current, Tensor v0, Tensor beta, Tensor threshold, int reset) -> Tensor");
  m.def("lif_backward_(Tensor(a!) current, Tensor v0, Tensor beta, Tensor threshold, int reset, Tensor grad_spikes, "
        "Tensor grad_v_final, int surrogate, float slope, bool detach_reset) -> Tensor");
  m.def("spike_csr(Tensor x) -> (Tensor, Tensor)");
  m.def("csr_linear(Tensor cols, Tensor row_ptr, Tensor weight_t, Tensor? bias) -> Tensor");
  m.def("csr_weight_grad(Tensor cols, Tensor row_ptr, Tensor grad, int K) -> Tensor");
  m.def("spike_pack(Tensor x) -> (Tensor, int)");
}

TORCH_LIBRARY_IMPL(spikeforge, CPU, m) {
  m.impl("lif_forward", &lif_forward);
  m.impl("lif_backward", &lif_backward);
  m.impl("lif_forward_", &lif_forward_);
  m.impl("lif_backward_", &lif_backward_);
  m.impl("spike_csr", &spike_csr);
  m.impl("csr_linear", &csr_linear);
  m.impl("csr_weight_grad", &csr_weight_grad);
  m.impl("spike_pack", &spike_pack);
}
