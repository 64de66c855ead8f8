//! The remote seal reader (qik.s3): any bytes downloaded as a seal are
//! refused or give a plan whose paths stay inside the entry, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qik_s3::fuzz_read_seal(data);
});
