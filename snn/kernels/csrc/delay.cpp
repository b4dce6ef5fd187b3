// Event-driven synaptic-delay kernels (CPU, float32 / float64); the pure-PyTorch references are in
// snn/synapses/delay_functional.py (delay_conv) and snn/backends/torch/delay.py (scatter / grouped paths).
//
// Time-major tensors throughout: a sequence (S, B, C) is S * B rows of C values, row r = s * B + b.
//
// delay_events(x (R, C)) -> (row_ptr int64 (R + 1), cols int32 (nnz), vals (nnz)): the nonzero entries of x, row by
//   row (CSR). The training kernels take this instead of x: it is what they save for backward.
// delay_conv_forward(row_ptr, cols, vals, kt (K, C, O), steps, batch) -> y (steps, batch, O):
//   y[t, b] = sum_n sum_j x[t + n, b, j] kt[n, j]  (x has steps + K - 1 rows of history-included input per batch);
//   the causal convolution of delay_conv with kt[n, j, i] = kernel[i, j, n].
// delay_conv_grad_kernel(row_ptr, cols, vals, gy (steps, batch, O), K) -> gk (K, C, O):
//   gk[n, j] = sum_{t, b} x[t + n, b, j] gy[t, b], the gradient of delay_conv_forward with respect to kt.
// delay_scatter(x (S, B, C), weight (O, C), delays int64 (O, C), history) -> y (S - history, B, O):
//   y[t, b, i] = sum_j weight[i, j] x[history + t - delays[i, j], b, j]; inputs before the sequence are zero.
//   Every nonzero input adds its column's nonzero weights to the output rows its delays point at.
//
// Sums run in a fixed order (events in row order, taps in order), so results do not depend on the thread count.

#include <torch/library.h>
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "spikeforge delay kernels: ", name, ": expected a CPU tensor, got ",
              t.device());
}

void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, "spikeforge delay kernels: ", name,
              ": expected float32 or float64, got ", t.scalar_type());
}

// f(i, thread) for i in [0, n), items handed out one by one to torch's OpenMP threads (dynamic schedule: on a shared
// machine a thread that gets less CPU takes fewer items instead of holding up the others); serial inside a parallel
// region. `thread` indexes per-thread scratch: 0 .. omp_get_max_threads() - 1.
template <typename F>
void for_each_dynamic(int64_t n, const F& f) {
#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) f(i, omp_get_thread_num());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> delay_events(const at::Tensor& x_in) {
  check_cpu(x_in, "x");
  check_float(x_in, "x");
  TORCH_CHECK(x_in.dim() == 2, "spikeforge delay_events: x: expected (rows, channels), got ", x_in.sizes());
  const at::Tensor x = x_in.contiguous();
  const int64_t R = x.size(0), C = x.size(1);
  at::Tensor row_ptr = at::zeros({R + 1}, x.options().dtype(at::kLong));
  int64_t* rp = row_ptr.data_ptr<int64_t>();
  at::Tensor cols, vals;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "delay_events", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    at::parallel_for(0, R, 256, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t n = 0;
        for (int64_t j = 0; j < C; ++j) n += xp[r * C + j] != scalar_t(0);
        rp[r + 1] = n;
      }
    });
    for (int64_t r = 0; r < R; ++r) rp[r + 1] += rp[r];
    cols = at::empty({rp[R]}, x.options().dtype(at::kInt));
    vals = at::empty({rp[R]}, x.options());
    int32_t* cp = cols.data_ptr<int32_t>();
    scalar_t* vp = vals.data_ptr<scalar_t>();
    at::parallel_for(0, R, 256, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t k = rp[r];
        for (int64_t j = 0; j < C; ++j) {
          const scalar_t v = xp[r * C + j];
          if (v != scalar_t(0)) { cp[k] = static_cast<int32_t>(j); vp[k] = v; ++k; }
        }
      }
    });
  });
  return {row_ptr, cols, vals};
}

void check_events(const at::Tensor& row_ptr, const at::Tensor& cols, const at::Tensor& vals, int64_t rows,
                  int64_t C) {
  check_cpu(row_ptr, "row_ptr");
  check_cpu(cols, "cols");
  check_cpu(vals, "vals");
  check_float(vals, "vals");
  TORCH_CHECK(row_ptr.scalar_type() == at::kLong && row_ptr.dim() == 1 && row_ptr.size(0) == rows + 1 &&
              row_ptr.is_contiguous(), "spikeforge delay kernels: row_ptr: expected contiguous int64 (",
              rows + 1, ",), got ", row_ptr.scalar_type(), " ", row_ptr.sizes());
  TORCH_CHECK(cols.scalar_type() == at::kInt && cols.dim() == 1 && cols.is_contiguous() && vals.dim() == 1 &&
              vals.is_contiguous() && cols.size(0) == vals.size(0),
              "spikeforge delay kernels: cols / vals: expected contiguous int32 / float vectors of one length");
  const int64_t* rp = row_ptr.data_ptr<int64_t>();
  TORCH_CHECK(rp[0] == 0 && rp[rows] == cols.size(0), "spikeforge delay kernels: row_ptr: expected 0 .. ",
              cols.size(0), ", got ", rp[0], " .. ", rp[rows]);
  for (int64_t r = 0; r < rows; ++r)
    TORCH_CHECK(rp[r] <= rp[r + 1], "spikeforge delay kernels: row_ptr: expected non-decreasing offsets");
  const int32_t* cp = cols.data_ptr<int32_t>();
  for (int64_t e = 0; e < cols.size(0); ++e)
    TORCH_CHECK(cp[e] >= 0 && cp[e] < C, "spikeforge delay kernels: cols: index ", cp[e], " out of range for ", C,
                " input channels");
}

// Four 64-byte vectors (GCC vector extension): the block of output features held in registers at a time.
template <typename T>
struct Vec {
  typedef T V __attribute__((vector_size(64)));
  static constexpr int64_t LANES = 64 / sizeof(T), WIDTH = 4 * LANES;
  static V load(const T* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
};

// The training kernels work on blocks of WIDTH output features: a (K, C, O) kernel or gradient is held as
// (K, NB, C, WIDTH), NB = ceil(O / WIDTH), zero-padded, so that the (C, WIDTH) slice of one tap and one block is
// contiguous and stays in L1 while the events of many rows are added from or into it.

// acc[0:WIDTH] += sum_e v_e * slice[cp[e] * WIDTH + 0:WIDTH] for e in [e0, e1), in registers.
template <typename T, bool BINARY>
inline void gather_add(T* acc, const T* slice, const int32_t* cp, const T* vp, int64_t e0, int64_t e1) {
  using X = Vec<T>;
  using V = typename X::V;
  constexpr int64_t L = X::LANES, W = X::WIDTH;
  // Events in pairs into two sets of accumulators: eight independent chains of adds instead of four.
  V a0 = X::load(acc), a1 = X::load(acc + L), a2 = X::load(acc + 2 * L), a3 = X::load(acc + 3 * L);
  V b0 = {}, b1 = {}, b2 = {}, b3 = {};
  int64_t e = e0;
  for (; e + 1 < e1; e += 2) {
    const T* s = slice + cp[e] * W;
    const T* u = slice + cp[e + 1] * W;
    if (BINARY) {
      a0 += X::load(s); a1 += X::load(s + L); a2 += X::load(s + 2 * L); a3 += X::load(s + 3 * L);
      b0 += X::load(u); b1 += X::load(u + L); b2 += X::load(u + 2 * L); b3 += X::load(u + 3 * L);
    } else {
      const T v = vp[e], z = vp[e + 1];
      a0 += v * X::load(s); a1 += v * X::load(s + L); a2 += v * X::load(s + 2 * L); a3 += v * X::load(s + 3 * L);
      b0 += z * X::load(u); b1 += z * X::load(u + L); b2 += z * X::load(u + 2 * L); b3 += z * X::load(u + 3 * L);
    }
  }
  if (e < e1) {
    const T* s = slice + cp[e] * W;
    const T v = BINARY ? T(1) : vp[e];
    a0 += v * X::load(s); a1 += v * X::load(s + L); a2 += v * X::load(s + 2 * L); a3 += v * X::load(s + 3 * L);
  }
  X::store(acc, a0 + b0); X::store(acc + L, a1 + b1); X::store(acc + 2 * L, a2 + b2); X::store(acc + 3 * L, a3 + b3);
}

// slice[cp[e] * WIDTH + 0:WIDTH] += v_e * src[0:WIDTH] for e in [e0, e1); src held in registers.
template <typename T, bool BINARY>
inline void scatter_add_rows(T* slice, const T* src, const int32_t* cp, const T* vp, int64_t e0, int64_t e1) {
  using X = Vec<T>;
  using V = typename X::V;
  constexpr int64_t L = X::LANES, W = X::WIDTH;
  const V g0 = X::load(src), g1 = X::load(src + L), g2 = X::load(src + 2 * L), g3 = X::load(src + 3 * L);
  for (int64_t e = e0; e < e1; ++e) {
    T* dst = slice + cp[e] * W;
    if (BINARY) {
      X::store(dst, X::load(dst) + g0); X::store(dst + L, X::load(dst + L) + g1);
      X::store(dst + 2 * L, X::load(dst + 2 * L) + g2); X::store(dst + 3 * L, X::load(dst + 3 * L) + g3);
    } else {
      const T v = vp[e];
      X::store(dst, X::load(dst) + v * g0); X::store(dst + L, X::load(dst + L) + v * g1);
      X::store(dst + 2 * L, X::load(dst + 2 * L) + v * g2); X::store(dst + 3 * L, X::load(dst + 3 * L) + v * g3);
    }
  }
}

// Output rows are taken in blocks of ROW_BLOCK, accumulated in a padded local buffer; within a block tap by tap and
// feature block by feature block.
constexpr int64_t ROW_BLOCK = 64;

template <typename T, bool BINARY>
void conv_forward(const int64_t* rp, const int32_t* cp, const T* vp, const T* kt, T* y, int64_t steps, int64_t B,
                  int64_t K, int64_t C, int64_t O) {
  constexpr int64_t W = Vec<T>::WIDTH;
  const int64_t R = steps * B, NB = (O + W - 1) / W;
  std::vector<T> kb(K * NB * C * W, T(0));  // kt blocked
  at::parallel_for(0, K * C, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t nj = lo; nj < hi; ++nj) {
      const int64_t n = nj / C, j = nj % C;
      for (int64_t i = 0; i < O; ++i) kb[((n * NB + i / W) * C + j) * W + i % W] = kt[nj * O + i];
    }
  });
  std::vector<std::vector<T>> bufs(omp_get_max_threads(), std::vector<T>(ROW_BLOCK * NB * W));  // (row, block, W)
  for_each_dynamic((R + ROW_BLOCK - 1) / ROW_BLOCK, [&](int64_t blk, int thread) {
    std::vector<T>& buf = bufs[thread];
    {
      const int64_t r0 = blk * ROW_BLOCK, r1 = std::min(R, r0 + ROW_BLOCK);
      std::fill(buf.begin(), buf.end(), T(0));
      for (int64_t n = 0; n < K; ++n) {
        for (int64_t c = 0; c < NB; ++c) {
          const T* slice = kb.data() + (n * NB + c) * C * W;
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t xr = r + n * B;  // input row (t + n, b) of output row (t, b)
            if (rp[xr] == rp[xr + 1]) continue;
            gather_add<T, BINARY>(buf.data() + ((r - r0) * NB + c) * W, slice, cp, vp, rp[xr], rp[xr + 1]);
          }
        }
      }
      for (int64_t r = r0; r < r1; ++r) std::copy_n(buf.data() + (r - r0) * NB * W, O, y + r * O);
    }
  });
}

template <typename T, bool BINARY>
void conv_grad_kernel(const int64_t* rp, const int32_t* cp, const T* vp, const T* gy, T* gk, int64_t steps,
                      int64_t B, int64_t K, int64_t C, int64_t O) {
  constexpr int64_t W = Vec<T>::WIDTH;
  const int64_t R = steps * B, NB = (O + W - 1) / W;
  std::vector<std::vector<T>> slices(omp_get_max_threads(), std::vector<T>(C * W));
  std::vector<std::vector<T>> pads(omp_get_max_threads(), std::vector<T>(W, T(0)));
  for_each_dynamic(K * NB, [&](int64_t nc, int thread) {
    std::vector<T>& slice = slices[thread];
    std::vector<T>& g = pads[thread];
    {
      const int64_t n = nc / NB, c0 = (nc % NB) * W, w = std::min(W, O - c0);
      std::fill(slice.begin(), slice.end(), T(0));
      for (int64_t r = 0; r < R; ++r) {
        const int64_t xr = r + n * B;  // row (t + n, b)
        if (rp[xr] == rp[xr + 1]) continue;
        const T* src = gy + r * O + c0;
        if (w < W) {  // the last, partial block: a zero-padded copy
          std::copy_n(src, w, g.data());
          src = g.data();
        }
        scatter_add_rows<T, BINARY>(slice.data(), src, cp, vp, rp[xr], rp[xr + 1]);
      }
      for (int64_t j = 0; j < C; ++j) std::copy_n(slice.data() + j * W, w, gk + (n * C + j) * O + c0);
    }
  });
}

template <typename T>
bool all_ones(const T* v, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    if (v[k] != T(1)) return false;
  return true;
}

at::Tensor delay_conv_forward(const at::Tensor& row_ptr, const at::Tensor& cols, const at::Tensor& vals,
                              const at::Tensor& kt_in, int64_t steps, int64_t batch) {
  check_cpu(kt_in, "kt");
  TORCH_CHECK(kt_in.dim() == 3 && kt_in.scalar_type() == vals.scalar_type(),
              "spikeforge delay_conv_forward: kt: expected (K, in, out) of the events' dtype, got ",
              kt_in.scalar_type(), " ", kt_in.sizes());
  const at::Tensor kt = kt_in.contiguous();
  const int64_t K = kt.size(0), C = kt.size(1), O = kt.size(2);
  TORCH_CHECK(steps >= 0 && batch >= 1, "spikeforge delay_conv_forward: steps / batch out of range");
  check_events(row_ptr, cols, vals, (steps + K - 1) * batch, C);
  at::Tensor y = at::empty({steps, batch, O}, kt.options());
  AT_DISPATCH_FLOATING_TYPES(kt.scalar_type(), "delay_conv_forward", [&] {
    const scalar_t* vp = vals.data_ptr<scalar_t>();
    auto run = all_ones(vp, vals.numel()) ? conv_forward<scalar_t, true> : conv_forward<scalar_t, false>;
    run(row_ptr.data_ptr<int64_t>(), cols.data_ptr<int32_t>(), vp, kt.data_ptr<scalar_t>(),
        y.data_ptr<scalar_t>(), steps, batch, K, C, O);
  });
  return y;
}

at::Tensor delay_conv_grad_kernel(const at::Tensor& row_ptr, const at::Tensor& cols, const at::Tensor& vals,
                                  const at::Tensor& gy_in, int64_t K, int64_t C) {
  check_cpu(gy_in, "gy");
  TORCH_CHECK(gy_in.dim() == 3 && gy_in.scalar_type() == vals.scalar_type() && K >= 1 && C >= 1,
              "spikeforge delay_conv_grad_kernel: gy: expected (steps, batch, out) of the events' dtype, got ",
              gy_in.scalar_type(), " ", gy_in.sizes());
  const at::Tensor gy = gy_in.contiguous();
  const int64_t steps = gy.size(0), B = gy.size(1), O = gy.size(2);
  check_events(row_ptr, cols, vals, (steps + K - 1) * B, C);
  at::Tensor gk = at::empty({K, C, O}, gy.options());  // every element is written
  AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "delay_conv_grad_kernel", [&] {
    const scalar_t* vp = vals.data_ptr<scalar_t>();
    const int32_t* cp = cols.data_ptr<int32_t>();
    auto run = all_ones(vp, vals.numel()) ? conv_grad_kernel<scalar_t, true> : conv_grad_kernel<scalar_t, false>;
    run(row_ptr.data_ptr<int64_t>(), cp, vp, gy.data_ptr<scalar_t>(), gk.data_ptr<scalar_t>(), steps, B, K, C, O);
  });
  return gk;
}

// Fan-out table: the live synapses of input j are entries start[j] .. start[j + 1], ordered by delay then output;
// an entry's offset = delay * stride + output, its place relative to the output row of delay 0.
template <typename T>
struct Synapse {
  int32_t offset;
  T weight;
};

template <typename T>
struct FanOut {
  std::vector<int64_t> start;
  std::vector<Synapse<T>> synapses;
  int64_t max_delay = 0;
};

template <typename T>
FanOut<T> plan_fan_out(const T* w, const int64_t* d, int64_t O, int64_t C, int64_t stride) {
  FanOut<T> p;
  p.start.assign(C + 1, 0);
  for (int64_t k = 0; k < O * C; ++k) p.max_delay = std::max(p.max_delay, w[k] != T(0) ? d[k] : 0);
  TORCH_CHECK(p.max_delay * stride + O < (int64_t(1) << 31), "spikeforge delay_scatter: delays up to ",
              p.max_delay, " steps are too long for this kernel");
  std::vector<int64_t> count(p.max_delay + 2);
  for (int64_t j = 0; j < C; ++j) {  // counting sort of column j by delay; outputs stay in order
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < O; ++i)
      if (w[i * C + j] != T(0)) ++count[d[i * C + j] + 1];
    for (int64_t k = 1; k < static_cast<int64_t>(count.size()); ++k) count[k] += count[k - 1];
    const int64_t base = static_cast<int64_t>(p.synapses.size());
    p.synapses.resize(base + count.back());
    for (int64_t i = 0; i < O; ++i)
      if (w[i * C + j] != T(0))
        p.synapses[base + count[d[i * C + j]]++] = {static_cast<int32_t>(d[i * C + j] * stride + i), w[i * C + j]};
    p.start[j + 1] = static_cast<int64_t>(p.synapses.size());
  }
  return p;
}

// base[offset] += v * weight over n synapses; the offsets of one input are distinct (one entry per output).
template <typename T, bool BINARY>
inline void scatter_add(T* __restrict base, const Synapse<T>* __restrict syn, T v, int64_t n) {
#pragma GCC unroll 4
  for (int64_t f = 0; f < n; ++f) base[syn[f].offset] += BINARY ? syn[f].weight : v * syn[f].weight;
}

at::Tensor delay_scatter(const at::Tensor& x_in, const at::Tensor& weight_in, const at::Tensor& delays_in,
                         int64_t history) {
  check_cpu(x_in, "x");
  check_cpu(weight_in, "weight");
  check_cpu(delays_in, "delays");
  check_float(x_in, "x");
  TORCH_CHECK(x_in.dim() == 3, "spikeforge delay_scatter: x: expected (steps, batch, in), got ", x_in.sizes());
  const int64_t S = x_in.size(0), B = x_in.size(1), C = x_in.size(2);
  TORCH_CHECK(weight_in.dim() == 2 && weight_in.size(1) == C && weight_in.scalar_type() == x_in.scalar_type(),
              "spikeforge delay_scatter: weight: expected (out, ", C, ") of x's dtype, got ",
              weight_in.scalar_type(), " ", weight_in.sizes());
  const int64_t O = weight_in.size(0);
  TORCH_CHECK(delays_in.scalar_type() == at::kLong && delays_in.sizes() == weight_in.sizes(),
              "spikeforge delay_scatter: delays: expected int64 of the weight's shape ", weight_in.sizes(), ", got ",
              delays_in.scalar_type(), " ", delays_in.sizes());
  TORCH_CHECK(history >= 0 && history <= S, "spikeforge delay_scatter: history: expected 0..", S, ", got ",
              history);
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous(), delays = delays_in.contiguous();
  const int64_t* dp = delays.data_ptr<int64_t>();
  for (int64_t k = 0; k < delays.numel(); ++k)
    TORCH_CHECK(dp[k] >= 0, "spikeforge delay_scatter: delays: expected non-negative steps, got ", dp[k]);
  const int64_t T = S - history;
  at::Tensor y = at::empty({T, B, O}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "delay_scatter", [&] {
    const FanOut<scalar_t> p = plan_fan_out(weight.data_ptr<scalar_t>(), dp, O, C, O);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    // One batch element at a time into buf (S + max_delay, O), contiguous so that the K rows an input reaches stay
    // in L1: row s + d collects input step s delayed by d; rows history .. S are the output.
    std::vector<std::vector<scalar_t>> bufs(omp_get_max_threads(), std::vector<scalar_t>((S + p.max_delay) * O));
    for_each_dynamic(B, [&](int64_t b, int thread) {
      std::vector<scalar_t>& buf = bufs[thread];
      {
        std::fill(buf.begin(), buf.end(), scalar_t(0));
        for (int64_t s = 0; s < S; ++s) {
          const scalar_t* xr = xp + (s * B + b) * C;
          scalar_t* base = buf.data() + s * O;
          for (int64_t j = 0; j < C; ++j) {
            const scalar_t v = xr[j];
            if (v == scalar_t(0)) continue;
            const Synapse<scalar_t>* syn = p.synapses.data() + p.start[j];
            const int64_t n = p.start[j + 1] - p.start[j];
            if (v == scalar_t(1)) scatter_add<scalar_t, true>(base, syn, v, n);
            else scatter_add<scalar_t, false>(base, syn, v, n);
          }
        }
        for (int64_t t = 0; t < T; ++t) std::copy_n(buf.data() + (history + t) * O, O, yp + (t * B + b) * O);
      }
    });
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(spikeforge, m) {
  m.def("delay_events(Tensor x) -> (Tensor, Tensor, Tensor)");
  m.def("delay_conv_forward(Tensor row_ptr, Tensor cols, Tensor vals, Tensor kt, int steps, int batch) -> Tensor");
  m.def("delay_conv_grad_kernel(Tensor row_ptr, Tensor cols, Tensor vals, Tensor gy, int K, int C) -> Tensor");
  m.def("delay_scatter(Tensor x, Tensor weight, Tensor delays, int history) -> Tensor");
}

TORCH_LIBRARY_IMPL(spikeforge, CPU, m) {
  m.impl("delay_events", &delay_events);
  m.impl("delay_conv_forward", &delay_conv_forward);
  m.impl("delay_conv_grad_kernel", &delay_conv_grad_kernel);
  m.impl("delay_scatter", &delay_scatter);
}
