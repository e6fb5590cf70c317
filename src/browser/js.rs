//! Raw bindings to the few global functions we need, valid in a window and in a Web Worker alike.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds since the time origin (100 µs resolution, 5 µs when isolated).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn performance_now() -> f64;

    /// `performance.timeOrigin`: the wall-clock time (ms since the Unix epoch) of `performance.now() == 0`.
    #[wasm_bindgen(js_namespace = performance, js_name = timeOrigin, thread_local_v2)]
    pub static TIME_ORIGIN: f64;

    /// `crossOriginIsolated`: whether the page may use high-resolution timers (undefined in old browsers).
    #[wasm_bindgen(js_name = crossOriginIsolated, thread_local_v2)]
    pub static CROSS_ORIGIN_ISOLATED: JsValue;

    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &js_sys::Function, millis: i32) -> i32;

    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: i32);

    #[wasm_bindgen(js_namespace = performance, js_name = setResourceTimingBufferSize)]
    pub fn set_resource_timing_buffer_size(size: u32);

    #[wasm_bindgen(js_namespace = performance, js_name = clearResourceTimings)]
    pub fn clear_resource_timings();
}

/// Milliseconds since the Unix epoch on the performance timeline (`timeOrigin + now()`): one timebase for wall
/// time and monotonic time, so `request_time` and latencies never disagree.
pub fn epoch_millis_now() -> f64 {
    TIME_ORIGIN.with(|o| *o) + performance_now()
}
