/* Warp matrix products (nvcuda::wmma, 16 x 16 x 16 tiles) for the CUDA emulator
 * (tests/cuda_emu). A fragment holds 8 elements in each of the warp's 32 lanes, lane l the
 * tile's elements 8l .. 8l+7 in row-major order: the device's own mapping is unspecified,
 * so code that depends on one is wrong either way. The *_sync calls wait for the whole warp
 * as on the device, and check the alignment the device requires: a 256-bit aligned pointer
 * and a leading dimension that is a multiple of 16 bytes. */
#ifndef LLM_CUDA_EMU_MMA_H
#define LLM_CUDA_EMU_MMA_H

#include <stdint.h>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16 x 16 x 16 shape only");
    enum { num_elements = 8 };
    T x[num_elements];
};

namespace detail {

template <typename T> void check_operand(const T *p, unsigned ldm, const char *what)
{
    if ((uintptr_t)p % 32)
        emu::fail("%s: pointer %p is not 256-bit aligned", what, (const void *)p);
    if (ldm * sizeof(T) % 16)
        emu::fail("%s: leading dimension %u is not a multiple of 16 bytes", what, ldm);
}

/* Row and column of a lane's i-th element in the 16 x 16 tile. */
inline int row_of(int i) { return (emu::lane_id() * 8 + i) / 16; }
inline int col_of(int i) { return (emu::lane_id() * 8 + i) % 16; }

template <typename T> void load(T *x, const T *p, unsigned ldm, bool row_major, const char *what)
{
    check_operand(p, ldm, what);
    emu::warp_barrier(0xffffffffu, what);
    for (int i = 0; i < 8; i++)
        x[i] = row_major ? p[row_of(i) * ldm + col_of(i)] : p[col_of(i) * ldm + row_of(i)];
}

template <typename T> void put_stage(float *tile, const T *x)
{
    for (int i = 0; i < 8; i++)
        tile[emu::lane_id() * 8 + i] = (float)x[i];
}

} // namespace detail

template <typename Use, typename T, typename L> void fill_fragment(fragment<Use, 16, 16, 16, T, L> &f, T v)
{
    for (int i = 0; i < 8; i++)
        f.x[i] = v;
}

template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L> &f, const T *p, unsigned ldm)
{
    static_assert(std::is_same<L, row_major>::value || std::is_same<L, col_major>::value,
                  "an operand fragment has a layout");
    detail::load(f.x, p, ldm, std::is_same<L, row_major>::value, "wmma::load_matrix_sync");
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm, layout_t l)
{
    detail::load(f.x, p, ldm, l == mem_row_major, "wmma::load_matrix_sync");
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm, layout_t l)
{
    detail::check_operand(p, ldm, "wmma::store_matrix_sync");
    emu::warp_barrier(0xffffffffu, "wmma::store_matrix_sync");
    for (int i = 0; i < 8; i++) {
        int r = detail::row_of(i), c = detail::col_of(i);
        p[l == mem_row_major ? r * ldm + c : c * ldm + r] = f.x[i];
    }
}

/* d = a b + c in fp32, each lane its own elements of d from the whole warp's a, b and c
 * (staged in a bank of the warp's that its next barrier swaps for the other). */
template <typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float> &d, const fragment<matrix_a, 16, 16, 16, T, LA> &a,
              const fragment<matrix_b, 16, 16, 16, T, LB> &b, const fragment<accumulator, 16, 16, 16, float> &c)
{
    float *sa = emu::warp_stage(), *sb = sa + 256, *sc = sb + 256;
    detail::put_stage(sa, a.x);
    detail::put_stage(sb, b.x);
    detail::put_stage(sc, c.x);
    emu::warp_barrier(0xffffffffu, "wmma::mma_sync");
    for (int i = 0; i < 8; i++) {
        int r = detail::row_of(i), col = detail::col_of(i);
        float acc = sc[r * 16 + col];
        for (int k = 0; k < 16; k++)
            acc += sa[r * 16 + k] * sb[k * 16 + col];
        d.x[i] = acc;
    }
}

} // namespace wmma
} // namespace nvcuda

#endif
