//! The Python import scanner and parser: any bytes are imports or an error
//! with a position, never a panic or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = qik_pygraph::raw_imports(data);
});
