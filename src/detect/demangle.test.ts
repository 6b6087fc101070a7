import { describe, expect, it } from 'vitest';
import { demangle } from './demangle.js';

describe('demangle', () => {
  it.each([
    // Rust v0, as kernel Rust frames print (syzkaller's titles name them so)
    ['_RNvCscSpY9Juk0HT_7___rustc17rust_begin_unwind', '__rustc::rust_begin_unwind'],
    ['_RNvNtCs9jEwPDbx20M_4core9panicking9panic_fmt', 'core::panicking::panic_fmt'],
    [
      '_RNvXs1_CscPPBqWtAqum_11ashmem_rustNtB5_6AshmemNtNtCs43vyB533jt3_6kernel10miscdevice10MiscDevice4mmap',
      '<ashmem_rust::Ashmem as kernel::miscdevice::MiscDevice>::mmap',
    ],
    ['_RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Process10update_ref', '<rust_binder::process::Process>::update_ref'],
    // an instantiating crate after the path is not part of the name; a reference type in the impl
    [
      '_RNvXs1b_NtCs9jEwPDbx20M_4core3fmtRNtNtNtB8_5panic10panic_info9PanicInfoNtB6_7Display3fmtCs43vyB533jt3_6kernel',
      '<&core::panic::panic_info::PanicInfo as core::fmt::Display>::fmt',
    ],
    ['_RINvNtCs1234_4core3mem4swaplEB4_', 'core::mem::swap::<i32>'],
    // Rust legacy and C++: the name without hash or parameters
    ['_ZN4core9panicking5panic17h0123456789abcdefE', 'core::panicking::panic'],
    ['_Z8fakeNameiii', 'fakeName'],
    // not mangled, or not readable: as printed
    ['rust_helper_BUG', 'rust_helper_BUG'],
    ['_RNvC', '_RNvC'],
    ['_RAX', '_RAX'],
  ])('%s → %s', (mangled, want) => {
    expect(demangle(mangled)).toBe(want);
  });
});
