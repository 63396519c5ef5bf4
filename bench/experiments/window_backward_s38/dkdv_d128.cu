// Instantiates the Hopper d128 dK/dV kernels (bf16; atomic dQ with and without softcap, and the
// deterministic path) for ptxas -v and cuobjdump.
#include <varattn/detail/backward/sm90/dkdv_kernel.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>

#include <cuda_bf16.h>

namespace vd = varattn::detail;
using E = __nv_bfloat16;

void* kernels[] = {
    reinterpret_cast<void*>(&vd::sm90::dkdv_kernel<E, 128, vd::score_modifier<false>, true>),
    reinterpret_cast<void*>(&vd::sm90::dkdv_kernel<E, 128, vd::score_modifier<true>, true>),
    reinterpret_cast<void*>(&vd::sm90::dkdv_kernel<E, 128, vd::score_modifier<false>, false>),
};
