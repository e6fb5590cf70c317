//! The native integration test binary: each module is one area.

mod protocol;
