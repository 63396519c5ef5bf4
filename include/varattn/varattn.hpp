#pragma once
//! \file varattn.hpp
//! Everything varattn offers. The host parts (segments, plan, reference, validation) build
//! in any C++17 translation unit; the dispatcher and kernels join when nvcc compiles it.

#include <varattn/device_segments.hpp>
#include <varattn/error.hpp>
#include <varattn/head_dims.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>
#include <varattn/reference.hpp>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>
#include <varattn/validate.hpp>
#include <varattn/work_list.hpp>

#if defined(__CUDACC__)
#include <varattn/device_plan.cuh>
#include <varattn/forward.cuh>
#endif
