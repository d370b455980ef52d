//! A thin Verilator harness: verilate a Verilog top, load it as a shared library and drive its
//! ports cycle by cycle from Rust.
//!
//! Why our own harness: the `verilator` crate (0.1.6) does not build against Verilator 5 (it
//! expects `V<top>__Slow.cpp`), and `marlin-verilator` needs Verilator >= 5.025 while Debian ships
//! 5.006. This harness works with Debian's Verilator, so a brand-new machine needs only apt:
//! `verilator --cc --build` compiles the model, a generated C++ shim exports an `extern "C"` port
//! table, `g++ -shared` links both, and `libloading` opens the result. Builds are cached by
//! content hash, so re-running a test or a simulation does not verilate again.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Bump when the generated shim changes, so cached libraries are rebuilt.
const SHIM_VERSION: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("`{cmd}` could not be run ({source}); install it with tools/setup.sh")]
    Missing { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed:\n{log}")]
    Failed { cmd: String, log: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("loading {path}: {msg}")]
    Load { path: PathBuf, msg: String },
    #[error("no port `{0}` on the verilated top")]
    NoPort(String),
    #[error("{0}")]
    Parse(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HarnessError + '_ {
    move |source| HarnessError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// A top-level port as Verilator exposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub dir: Dir,
    pub width: u32,
}

impl Port {
    /// 32-bit words the port occupies in the C API.
    pub fn words(&self) -> usize {
        (self.width as usize).div_ceil(32)
    }
}

/// What to verilate.
#[derive(Debug, Clone)]
pub struct Build {
    /// Top module name.
    pub top: String,
    /// Verilog sources.
    pub sources: Vec<PathBuf>,
    /// Include directories (`-I`).
    pub include_dirs: Vec<PathBuf>,
    /// Compile VCD tracing in.
    pub trace: bool,
    /// Where cached builds live (one directory per content hash).
    pub cache_dir: PathBuf,
    /// Extra verilator arguments (e.g. waivers).
    pub extra_args: Vec<String>,
    /// Resolve `$readmemh` file names against the `+dg_memdir=DIR` plusarg (see
    /// [`readmem_from_plusarg`]), so one cached build serves every model of the same RTL.
    pub readmem_plusarg: bool,
}

/// Rewrites every `initial $readmemh("NAME", mem);` line so the file is looked up in the
/// directory given by the `+dg_memdir=DIR` plusarg (default `.`). Verilator runs initial blocks
/// when the model starts, relative to the process's working directory; the simulation should
/// not depend on it, and memory contents should not be part of the compiled model.
pub fn readmem_from_plusarg(verilog: &str) -> String {
    let mut out = String::with_capacity(verilog.len() + 1024);
    for line in verilog.lines() {
        let t = line.trim_start();
        let parsed = t
            .strip_prefix("initial $readmemh(\"")
            .and_then(|r| r.split_once("\", "))
            .and_then(|(name, r)| r.strip_suffix(");").map(|mem| (name, mem)));
        match parsed {
            Some((name, mem)) => out.push_str(&format!(
                "initial begin : dg_readmem\n\
                 string dg_dir;\n\
                 if (!$value$plusargs(\"dg_memdir=%s\", dg_dir)) dg_dir = \".\";\n\
                 $readmemh({{dg_dir, \"/{name}\"}}, {mem});\n\
                 end\n"
            )),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn run(cmd: &mut Command) -> Result<String, HarnessError> {
    let name = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| HarnessError::Missing {
        cmd: name.clone(),
        source,
    })?;
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(HarnessError::Failed { cmd: name, log });
    }
    Ok(log)
}

/// The installed Verilator's version line (part of the cache key).
pub fn verilator_version() -> Result<String, HarnessError> {
    Ok(run(Command::new("verilator").arg("--version"))?
        .trim()
        .to_string())
}

/// Parses the ports out of Verilator's generated `V<top>.h` (`VL_IN8(&clk,0,0);` etc.).
pub fn parse_ports(header: &str) -> Result<Vec<Port>, HarnessError> {
    let mut ports = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("VL_") else {
            continue;
        };
        let Some(open) = rest.find("(&") else {
            continue;
        };
        let kind = &rest[..open];
        let dir = if kind.starts_with("IN") && !kind.starts_with("INOUT") {
            Dir::In
        } else if kind.starts_with("OUT") {
            Dir::Out
        } else {
            continue;
        };
        let args = rest[open + 2..].trim_end_matches(';').trim_end_matches(')');
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        if parts.len() < 3 {
            return Err(HarnessError::Parse(format!(
                "unexpected port line `{line}`"
            )));
        }
        let msb: u32 = parts[1]
            .parse()
            .map_err(|_| HarnessError::Parse(format!("bad msb in `{line}`")))?;
        let lsb: u32 = parts[2]
            .parse()
            .map_err(|_| HarnessError::Parse(format!("bad lsb in `{line}`")))?;
        ports.push(Port {
            name: parts[0].to_string(),
            dir,
            width: msb - lsb + 1,
        });
    }
    if ports.is_empty() {
        return Err(HarnessError::Parse(
            "no ports found in the verilated header".into(),
        ));
    }
    Ok(ports)
}

/// C++ shim: one switch per direction over the port table.
fn shim_source(top: &str, ports: &[Port], trace: bool) -> String {
    let class = format!("V{top}");
    let mut set = String::new();
    let mut get = String::new();
    for (i, p) in ports.iter().enumerate() {
        let n = &p.name;
        let (s, g) = match p.width {
            0..=32 => (
                format!("m->{n} = w[0];"),
                format!("w[0] = (uint32_t)m->{n};"),
            ),
            33..=64 => (
                format!("m->{n} = ((uint64_t)w[1] << 32) | w[0];"),
                format!("w[0] = (uint32_t)m->{n}; w[1] = (uint32_t)(m->{n} >> 32);"),
            ),
            _ => (
                format!("for (int k = 0; k < {}; k++) m->{n}[k] = w[k];", p.words()),
                format!("for (int k = 0; k < {}; k++) w[k] = m->{n}[k];", p.words()),
            ),
        };
        if p.dir == Dir::In {
            set += &format!("    case {i}: {s} break;\n");
        }
        get += &format!("    case {i}: {g} break;\n");
    }
    let (trace_inc, trace_fns) = if trace {
        (
            "#include \"verilated_vcd_c.h\"\n",
            "void dg_trace_open(void* p, const char* path) { Dg* d = (Dg*)p; d->ctx->traceEverOn(true); d->tfp = new VerilatedVcdC; d->top->trace(d->tfp, 99); d->tfp->open(path); }\n\
             void dg_trace_dump(void* p, uint64_t t) { Dg* d = (Dg*)p; if (d->tfp) d->tfp->dump(t); }\n\
             void dg_trace_close(void* p) { Dg* d = (Dg*)p; if (d->tfp) { d->tfp->close(); delete d->tfp; d->tfp = nullptr; } }\n",
        )
    } else {
        (
            "",
            "void dg_trace_open(void*, const char*) {}\nvoid dg_trace_dump(void*, uint64_t) {}\nvoid dg_trace_close(void*) {}\n",
        )
    };
    format!(
        "// Generated by deltagen-testbenches: C API over the verilated model.\n\
#include <cstdint>\n#include \"verilated.h\"\n{trace_inc}#include \"{class}.h\"\n\
struct Dg {{ VerilatedContext* ctx; {class}* top; {tfp} }};\n\
extern \"C\" {{\n\
void* dg_new(int argc, const char** argv) {{ Dg* d = new Dg(); d->ctx = new VerilatedContext; d->ctx->commandArgs(argc, argv); d->top = new {class}(d->ctx); {tfp_init} return d; }}\n\
void dg_free(void* p) {{ Dg* d = (Dg*)p; d->top->final(); delete d->top; delete d->ctx; delete d; }}\n\
void dg_eval(void* p) {{ ((Dg*)p)->top->eval(); }}\n\
int dg_set(void* p, int port, const uint32_t* w) {{ {class}* m = ((Dg*)p)->top; switch (port) {{\n{set}    default: return -1; }} return 0; }}\n\
int dg_get(void* p, int port, uint32_t* w) {{ {class}* m = ((Dg*)p)->top; switch (port) {{\n{get}    default: return -1; }} return 0; }}\n\
{trace_fns}}}\n",
        tfp = if trace { "VerilatedVcdC* tfp;" } else { "" },
        tfp_init = if trace { "d->tfp = nullptr;" } else { "" },
    )
}

impl Build {
    pub fn new(top: &str, sources: Vec<PathBuf>, cache_dir: &Path) -> Build {
        Build {
            top: top.to_string(),
            sources,
            include_dirs: Vec::new(),
            trace: false,
            cache_dir: cache_dir.to_path_buf(),
            extra_args: Vec::new(),
            readmem_plusarg: false,
        }
    }

    /// Content hash of everything that determines the build.
    pub fn key(&self) -> Result<String, HarnessError> {
        let mut h = Sha256::new();
        h.update(SHIM_VERSION);
        h.update(verilator_version()?);
        h.update(&self.top);
        h.update([u8::from(self.trace), u8::from(self.readmem_plusarg)]);
        for a in &self.extra_args {
            h.update(a);
        }
        for s in &self.sources {
            // Whole-line comments do not change the model (generated headers name the model
            // directory, which must not force a rebuild).
            let text = std::fs::read_to_string(s).map_err(io_err(s))?;
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                h.update(line);
                h.update("\n");
            }
        }
        Ok(h.finalize()[..10]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Whether a build for this content is already in the cache.
    pub fn is_cached(&self) -> Result<bool, HarnessError> {
        let key = self.key()?;
        Ok(self
            .cache_dir
            .join(format!("{}-{key}", self.top))
            .join("libsim.so")
            .exists())
    }

    /// Verilates and links (or reuses the cached library), then loads it.
    pub fn load(&self) -> Result<Sim, HarnessError> {
        self.load_with_args(&[])
    }

    /// As [`Build::load`], passing `args` (e.g. `+dg_memdir=DIR`) as the model's command line.
    pub fn load_with_args(&self, args: &[String]) -> Result<Sim, HarnessError> {
        let key = self.key()?;
        let dir = self.cache_dir.join(format!("{}-{key}", self.top));
        let lib = dir.join("libsim.so");
        let ports_file = dir.join("ports.txt");
        if !lib.exists() {
            self.compile(&dir)?;
        }
        let ports_text = std::fs::read_to_string(&ports_file).map_err(io_err(&ports_file))?;
        let ports = parse_ports(&ports_text)?;
        Sim::open(&lib, ports, args)
    }

    /// Builds into a scratch directory and renames it into place, so parallel builds of the same
    /// design (tests run in threads) never see a half-written library.
    fn compile(&self, dir: &Path) -> Result<(), HarnessError> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        static SCRATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Plain characters only: the path ends up in a Makefile.
        let scratch = parent.join(format!(".tmp-{}-{}-{n}", self.top, std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
        let obj = scratch.join("obj");
        let mut v = Command::new("verilator");
        v.args([
            "--cc",
            "--build",
            "-j",
            "2",
            "-O3",
            "--top-module",
            &self.top,
            "-CFLAGS",
            "-fPIC -O2",
        ])
        .arg("--Mdir")
        .arg(&obj);
        if self.trace {
            v.arg("--trace");
        }
        for inc in &self.include_dirs {
            v.arg(format!("-I{}", inc.display()));
        }
        v.args(&self.extra_args);
        if self.readmem_plusarg {
            for (i, src) in self.sources.iter().enumerate() {
                let text = std::fs::read_to_string(src).map_err(io_err(src))?;
                let name = src
                    .file_name()
                    .map_or("src.v".into(), |n| n.to_string_lossy());
                let copy = scratch.join(format!("{i}_{name}"));
                std::fs::write(&copy, readmem_from_plusarg(&text)).map_err(io_err(&copy))?;
                v.arg(copy);
            }
        } else {
            v.args(&self.sources);
        }
        run(&mut v)?;
        let header_path = obj.join(format!("V{}.h", self.top));
        let header = std::fs::read_to_string(&header_path).map_err(io_err(&header_path))?;
        let ports = parse_ports(&header)?;
        // Keep only the port lines: the cached directory does not keep the generated C++.
        let port_lines: String = header
            .lines()
            .filter(|l| l.trim_start().starts_with("VL_IN") || l.trim_start().starts_with("VL_OUT"))
            .map(|l| format!("{}\n", l.trim()))
            .collect();
        let shim = scratch.join("shim.cpp");
        std::fs::write(&shim, shim_source(&self.top, &ports, self.trace)).map_err(io_err(&shim))?;
        let root = verilator_root()?;
        let include = root.join("include");
        let mut gpp = Command::new("g++");
        gpp.args(["-shared", "-fPIC", "-O2", "-std=c++17", "-o"])
            .arg(scratch.join("libsim.so"))
            .arg(format!("-I{}", obj.display()))
            .arg(format!("-I{}", include.display()))
            .arg(format!("-I{}", include.join("vltstd").display()))
            .arg(&shim)
            .arg(obj.join(format!("V{}__ALL.a", self.top)))
            // Verilator's runtime, compiled in: `--build` without `--exe` does not make it.
            .arg(include.join("verilated.cpp"))
            .arg(include.join("verilated_threads.cpp"));
        if self.trace {
            gpp.arg(include.join("verilated_vcd_c.cpp"));
        }
        gpp.arg("-lpthread");
        run(&mut gpp)?;
        let ports_file = scratch.join("ports.txt");
        std::fs::write(&ports_file, port_lines).map_err(io_err(&ports_file))?;
        let _ = std::fs::remove_dir_all(&obj);
        match std::fs::rename(&scratch, dir) {
            Ok(()) => Ok(()),
            // Another thread finished the same build first: use theirs.
            Err(_) if dir.join("libsim.so").exists() => {
                let _ = std::fs::remove_dir_all(&scratch);
                Ok(())
            }
            Err(e) => Err(HarnessError::Io {
                path: dir.to_path_buf(),
                source: e,
            }),
        }
    }
}

/// Verilator's install root (for its include files).
pub fn verilator_root() -> Result<PathBuf, HarnessError> {
    if let Ok(root) = std::env::var("VERILATOR_ROOT") {
        return Ok(PathBuf::from(root));
    }
    let out = run(Command::new("verilator")
        .arg("--getenv")
        .arg("VERILATOR_ROOT"))?;
    Ok(PathBuf::from(out.trim()))
}

type NewFn = unsafe extern "C" fn(c_int, *const *const c_char) -> *mut c_void;
type PtrFn = unsafe extern "C" fn(*mut c_void);
type SetFn = unsafe extern "C" fn(*mut c_void, c_int, *const u32) -> c_int;
type GetFn = unsafe extern "C" fn(*mut c_void, c_int, *mut u32) -> c_int;
type TraceOpenFn = unsafe extern "C" fn(*mut c_void, *const c_char);
type TraceDumpFn = unsafe extern "C" fn(*mut c_void, u64);

/// A loaded, running model. Not `Send`: a Verilator model belongs to one thread.
pub struct Sim {
    handle: *mut c_void,
    ports: Vec<Port>,
    index: HashMap<String, usize>,
    set_fn: SetFn,
    get_fn: GetFn,
    eval_fn: PtrFn,
    free_fn: PtrFn,
    trace_open_fn: TraceOpenFn,
    trace_dump_fn: TraceDumpFn,
    trace_close_fn: PtrFn,
    time: u64,
    tracing: bool,
    // Keeps the code mapped while `handle` lives; dropped last.
    _lib: libloading::Library,
}

/// Index of a port, looked up once by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortId(usize);

impl Sim {
    fn open(path: &Path, ports: Vec<Port>, args: &[String]) -> Result<Sim, HarnessError> {
        let load_err = |e: libloading::Error| HarnessError::Load {
            path: path.to_path_buf(),
            msg: e.to_string(),
        };
        // SAFETY: the library is one we just built from the shim above; its symbols have exactly
        // the signatures declared here.
        unsafe {
            let lib = libloading::Library::new(path).map_err(load_err)?;
            let new_fn: NewFn = *lib.get::<NewFn>(b"dg_new").map_err(load_err)?;
            let set_fn = *lib.get::<SetFn>(b"dg_set").map_err(load_err)?;
            let get_fn = *lib.get::<GetFn>(b"dg_get").map_err(load_err)?;
            let eval_fn = *lib.get::<PtrFn>(b"dg_eval").map_err(load_err)?;
            let free_fn = *lib.get::<PtrFn>(b"dg_free").map_err(load_err)?;
            let trace_open_fn = *lib.get::<TraceOpenFn>(b"dg_trace_open").map_err(load_err)?;
            let trace_dump_fn = *lib.get::<TraceDumpFn>(b"dg_trace_dump").map_err(load_err)?;
            let trace_close_fn = *lib.get::<PtrFn>(b"dg_trace_close").map_err(load_err)?;
            // argv[0] is the program name by convention; the context copies the strings.
            let c_args = std::iter::once("deltagen-sim".to_string())
                .chain(args.iter().cloned())
                .map(|a| {
                    CString::new(a).map_err(|_| HarnessError::Parse("argument contains NUL".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let argv: Vec<*const c_char> = c_args.iter().map(|c| c.as_ptr()).collect();
            let handle = new_fn(argv.len() as c_int, argv.as_ptr());
            let index = ports
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i))
                .collect();
            Ok(Sim {
                handle,
                ports,
                index,
                set_fn,
                get_fn,
                eval_fn,
                free_fn,
                trace_open_fn,
                trace_dump_fn,
                trace_close_fn,
                time: 0,
                tracing: false,
                _lib: lib,
            })
        }
    }

    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    pub fn port(&self, name: &str) -> Result<PortId, HarnessError> {
        self.index
            .get(name)
            .map(|i| PortId(*i))
            .ok_or_else(|| HarnessError::NoPort(name.to_string()))
    }

    pub fn width(&self, id: PortId) -> u32 {
        self.ports[id.0].width
    }

    /// Sets an input of up to 64 bits (higher bits are masked off by the model's width).
    pub fn set(&mut self, id: PortId, value: u64) {
        let words = [value as u32, (value >> 32) as u32];
        if self.ports[id.0].words() <= 2 {
            self.set_words(id, &words[..self.ports[id.0].words()]);
        } else {
            let mut w = vec![0u32; self.ports[id.0].words()];
            w[..2].copy_from_slice(&words);
            self.set_words(id, &w);
        }
    }

    /// Sets an input from 32-bit words, least significant first.
    pub fn set_words(&mut self, id: PortId, words: &[u32]) {
        let p = &self.ports[id.0];
        assert_eq!(p.dir, Dir::In, "port `{}` is not an input", p.name);
        let mut w = vec![0u32; p.words()];
        for (d, s) in w.iter_mut().zip(words) {
            *d = *s;
        }
        // Mask the top word so the model never sees bits beyond the port width.
        let rem = p.width % 32;
        if rem != 0 {
            if let Some(last) = w.last_mut() {
                *last &= (1u32 << rem) - 1;
            }
        }
        // SAFETY: `w` has exactly the port's word count; the shim reads that many.
        unsafe { (self.set_fn)(self.handle, id.0 as c_int, w.as_ptr()) };
    }

    /// Reads a port of up to 64 bits.
    pub fn get(&self, id: PortId) -> u64 {
        let w = self.get_words(id);
        u64::from(w[0]) | w.get(1).map_or(0, |h| u64::from(*h) << 32)
    }

    /// Reads a port as 32-bit words, least significant first.
    pub fn get_words(&self, id: PortId) -> Vec<u32> {
        let mut w = vec![0u32; self.ports[id.0].words()];
        // SAFETY: the buffer holds the port's word count; the shim writes that many.
        unsafe { (self.get_fn)(self.handle, id.0 as c_int, w.as_mut_ptr()) };
        w
    }

    pub fn eval(&mut self) {
        // SAFETY: handle is live until drop.
        unsafe { (self.eval_fn)(self.handle) };
    }

    /// One clock cycle on `clk`: rising edge, then falling edge (two trace time steps).
    pub fn tick(&mut self, clk: PortId) {
        self.set(clk, 1);
        self.eval();
        self.dump();
        self.set(clk, 0);
        self.eval();
        self.dump();
    }

    fn dump(&mut self) {
        self.time += 1;
        if self.tracing {
            // SAFETY: tracing was opened on this handle.
            unsafe { (self.trace_dump_fn)(self.handle, self.time) };
        }
    }

    /// Starts a VCD trace (the build must have `trace = true`).
    pub fn trace_to(&mut self, path: &Path) -> Result<(), HarnessError> {
        let c = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| HarnessError::Parse("trace path contains NUL".into()))?;
        // SAFETY: c outlives the call; the shim copies the path.
        unsafe { (self.trace_open_fn)(self.handle, c.as_ptr()) };
        self.tracing = true;
        Ok(())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // SAFETY: handle came from dg_new and is freed once, before the library unloads.
        unsafe {
            if self.tracing {
                (self.trace_close_fn)(self.handle);
            }
            (self.free_fn)(self.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: &str = r#"
module counter(input wire clk, input wire rst, input wire [7:0] inc,
               output reg [31:0] total, output wire [47:0] wide48,
               input wire [95:0] wide_in, output wire [95:0] wide_out);
  always @(posedge clk) if (rst) total <= 32'd0; else total <= total + {24'd0, inc};
  assign wide48 = {total[15:0], total};
  assign wide_out = ~wide_in;
endmodule
"#;

    fn have_verilator() -> bool {
        Command::new("verilator").arg("--version").output().is_ok()
    }

    #[test]
    fn parses_verilator_port_lines() {
        let h = "    VL_IN8(&clk,0,0);\n    VL_OUT(&total,31,0);\n    VL_INW(&w,95,0,3);\n    VL_OUT64(&m,47,0);\n";
        let p = parse_ports(h).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].dir, p[0].width), (Dir::In, 1));
        assert_eq!((p[2].dir, p[2].width, p[2].words()), (Dir::In, 96, 3));
        assert_eq!((p[3].dir, p[3].width, p[3].words()), (Dir::Out, 48, 2));
        assert!(parse_ports("nothing here").is_err());
    }

    #[test]
    fn drives_a_counter_cycle_by_cycle() {
        if !have_verilator() {
            panic!("verilator not installed: run tools/setup.sh");
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("counter.v");
        std::fs::write(&src, COUNTER).unwrap();
        let mut build = Build::new("counter", vec![src], &dir.path().join("cache"));
        build.trace = true;
        let mut sim = build.load().unwrap();
        let (clk, rst, inc, total) = (
            sim.port("clk").unwrap(),
            sim.port("rst").unwrap(),
            sim.port("inc").unwrap(),
            sim.port("total").unwrap(),
        );
        sim.trace_to(&dir.path().join("t.vcd")).unwrap();
        sim.set(rst, 1);
        sim.tick(clk);
        sim.set(rst, 0);
        let mut expect = 0u64;
        for i in 1..=50u64 {
            sim.set(inc, i % 256);
            sim.tick(clk);
            expect += i;
            assert_eq!(sim.get(total), expect);
        }
        let w48 = sim.port("wide48").unwrap();
        assert_eq!(sim.get(w48), ((expect & 0xffff) << 32) | expect);
        let (wi, wo) = (sim.port("wide_in").unwrap(), sim.port("wide_out").unwrap());
        sim.set_words(wi, &[1, 2, 3]);
        sim.eval();
        assert_eq!(sim.get_words(wo), vec![!1u32, !2u32, !3u32]);
        assert!(matches!(sim.port("nope"), Err(HarnessError::NoPort(_))));
        drop(sim);
        assert!(std::fs::read_to_string(dir.path().join("t.vcd"))
            .unwrap()
            .contains("total"));
        // Second load hits the cache (same key, library already there).
        let key = build.key().unwrap();
        assert!(dir
            .path()
            .join("cache")
            .join(format!("counter-{key}"))
            .join("libsim.so")
            .exists());
        let sim2 = build.load().unwrap();
        assert_eq!(sim2.ports().len(), 7);
    }

    #[test]
    fn reports_verilog_errors() {
        if !have_verilator() {
            panic!("verilator not installed: run tools/setup.sh");
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bad.v");
        std::fs::write(&src, "module bad(input wire a); assign b = ; endmodule\n").unwrap();
        let err = Build::new("bad", vec![src], dir.path())
            .load()
            .err()
            .unwrap();
        assert!(matches!(err, HarnessError::Failed { .. }), "{err}");
    }
}
