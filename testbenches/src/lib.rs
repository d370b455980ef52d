//! Verilator harness for deltagen RTL (filled by the Verilator issue).
