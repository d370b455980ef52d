//! `deltagen host`: drives a board running `deltagen_board` over its serial port with the
//! framing protocol of docs/board.md, writes the logits it returns and compares them with the
//! golden model.
//!
//! The port is opened as a file and, when it is a terminal, set to raw 8N1 at `--baud` with
//! termios (no extra dependency). Anything that behaves like a serial line works, e.g. a
//! pseudo-terminal with a simulated board on the other side (tests/board_host.rs).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::Array3;
use serde_json::json;

use crate::board::DEFAULT_BAUD;
use crate::format::{self, NpzOut};
use crate::golden;
use crate::io::Inputs;
use crate::model::Model;
use deltagen_hdl::board::protocol::{self, Info};

#[derive(Args, Debug)]
pub struct HostArgs {
    /// Serial device of the board, e.g. /dev/ttyUSB1 (the FTDI's second interface on
    /// iCEBreaker); any terminal or pseudo-terminal works.
    #[arg(long)]
    pub port: PathBuf,
    /// Model package directory the board was generated for (model.json + model.npz).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs file (inputs.npz: int8 `frames` [sequences, T, in]).
    #[arg(long)]
    pub inputs: PathBuf,
    /// UART rate the board top was generated with (`generate --baud`).
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
    /// Output directory (logits.npz, host.json, host.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Seconds to wait for a reply before giving up.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

/// A serial port (or anything file-like) with reads that time out.
pub struct Port {
    file: File,
    path: PathBuf,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        #[cfg(target_os = "linux")]
        460800 => libc::B460800,
        #[cfg(target_os = "linux")]
        500000 => libc::B500000,
        #[cfg(target_os = "linux")]
        921600 => libc::B921600,
        #[cfg(target_os = "linux")]
        1000000 => libc::B1000000,
        #[cfg(target_os = "linux")]
        1500000 => libc::B1500000,
        #[cfg(target_os = "linux")]
        2000000 => libc::B2000000,
        #[cfg(target_os = "linux")]
        3000000 => libc::B3000000,
        _ => return None,
    })
}

impl Port {
    /// Opens `path`; a terminal is set to raw 8N1 at `baud` with no flow control and its
    /// pending input is discarded.
    pub fn open(path: &Path, baud: u32) -> Result<Port> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .with_context(|| format!("opening serial port {}", path.display()))?;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is an open descriptor owned by `file`; termios is plain data.
        unsafe {
            if libc::isatty(fd) == 1 {
                let sp = speed(baud).with_context(|| {
                    format!(
                        "--baud {baud}: not a standard rate this host can set (use 9600, 19200, \
                         38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, \
                         1500000, 2000000 or 3000000)"
                    )
                })?;
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(fd, &mut t) != 0 {
                    return Err(std::io::Error::last_os_error())
                        .with_context(|| format!("reading the settings of {}", path.display()));
                }
                libc::cfmakeraw(&mut t);
                t.c_cflag |= libc::CLOCAL | libc::CREAD;
                t.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
                t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
                t.c_cc[libc::VMIN] = 0;
                t.c_cc[libc::VTIME] = 0;
                if libc::cfsetispeed(&mut t, sp) != 0
                    || libc::cfsetospeed(&mut t, sp) != 0
                    || libc::tcsetattr(fd, libc::TCSANOW, &t) != 0
                {
                    return Err(std::io::Error::last_os_error()).with_context(|| {
                        format!("setting {} to raw 8N1 at {baud} baud", path.display())
                    });
                }
                libc::tcflush(fd, libc::TCIOFLUSH);
            }
        }
        Ok(Port {
            file,
            path: path.to_path_buf(),
            bytes_sent: 0,
            bytes_received: 0,
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .with_context(|| format!("writing to {}", self.path.display()))?;
        self.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// Reads exactly `n` bytes, waiting at most `timeout` for each chunk.
    pub fn receive(&mut self, n: usize, timeout: Duration, what: &str) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        let fd = self.file.as_raw_fd();
        while got < n {
            let start = Instant::now();
            loop {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    bail!(
                        "no reply from the board on {} ({what}: {got} of {n} bytes after {:.1} s); \
                         is the bitstream loaded and --baud right?",
                        self.path.display(),
                        timeout.as_secs_f64()
                    );
                }
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = left.as_millis().clamp(1, 1000) as libc::c_int;
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, ms) };
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e).with_context(|| format!("waiting on {}", self.path.display()));
                }
                if r > 0 {
                    break;
                }
            }
            match self.file.read(&mut buf[got..]) {
                Ok(0) => {
                    // A terminal with VMIN = 0 returns 0 when poll woke for a hang-up.
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", self.path.display()))
                }
            }
        }
        self.bytes_received += n as u64;
        Ok(buf)
    }
}

/// Asks for the info reply and checks it against the model.
pub fn check_info(
    port: &mut Port,
    model: &Model,
    model_dir: &Path,
    timeout: Duration,
) -> Result<Info> {
    port.send(&[protocol::CMD_INFO])?;
    let head = port.receive(1, timeout, "info reply")?;
    if head[0] != protocol::REPLY_INFO {
        bail!(
            "{} answered 0x{:02x} to the info request, expected 0x{:02x} ('I'): not a \
             deltagen_board, or a reply from an earlier run is still in flight",
            port.path.display(),
            head[0],
            protocol::REPLY_INFO
        );
    }
    let body = port.receive(protocol::INFO_LEN, timeout, "info reply")?;
    let info = Info::parse(body[..].try_into().expect("INFO_LEN bytes"));
    if info.version != protocol::VERSION {
        bail!(
            "the board speaks protocol version {}, this deltagen version {}",
            info.version,
            protocol::VERSION
        );
    }
    if usize::from(info.n_in) != model.input_size()
        || usize::from(info.n_out) != model.output_size()
    {
        bail!(
            "the board runs a model with {} inputs and {} outputs, but {}/model.json has {} and \
             {}: generate and load the bitstream for this model",
            info.n_in,
            info.n_out,
            model_dir.display(),
            model.input_size(),
            model.output_size()
        );
    }
    Ok(info)
}

/// Sends every frame (two in flight) and collects the logits, [sequences, T, out]; frames past
/// a sequence's length stay 0.
pub fn run_frames(
    port: &mut Port,
    model: &Model,
    inputs: &Inputs,
    timeout: Duration,
    mut on_frame: impl FnMut(),
) -> Result<Array3<i32>> {
    let n_out = model.output_size();
    let mut logits =
        Array3::<i32>::zeros((inputs.sequences(), inputs.frames_per_sequence(), n_out));
    let order: Vec<(usize, usize)> = (0..inputs.sequences())
        .flat_map(|s| (0..inputs.length(s)).map(move |t| (s, t)))
        .collect();
    let mut sent = 0;
    for (k, &(s, t)) in order.iter().enumerate() {
        while sent < order.len() && sent < k + protocol::WINDOW {
            let (ss, tt) = order[sent];
            let x = inputs.frames.slice(ndarray::s![ss, tt, ..]).to_vec();
            port.send(&protocol::frame_bytes(tt == 0, &x))?;
            sent += 1;
        }
        let what = format!("logits of sequence {s}, frame {t}");
        let head = port.receive(1, timeout, &what)?;
        if head[0] != protocol::REPLY_LOGITS {
            bail!(
                "{what}: the board sent 0x{:02x}, expected 0x{:02x} ('L')",
                head[0],
                protocol::REPLY_LOGITS
            );
        }
        let body = port.receive(protocol::logits_reply_len(n_out) - 1, timeout, &what)?;
        let (values, status) = protocol::parse_logits(&body);
        if status != 0 {
            bail!(
                "{what}: board status 0x{status:02x} ({})",
                protocol::status_text(status)
            );
        }
        for (i, v) in values.iter().enumerate() {
            logits[(s, t, i)] = *v;
        }
        on_frame();
    }
    Ok(logits)
}

pub fn run(a: &HostArgs, quiet: bool) -> Result<()> {
    let outputs = ["logits.npz", "host.json", "host.md"].map(|f| a.out.join(f));
    for p in &outputs {
        format::check_writable(p, a.force)?;
    }
    if !a.timeout.is_finite() || a.timeout <= 0.0 {
        bail!(
            "--timeout {} must be a positive number of seconds",
            a.timeout
        );
    }
    let model = Model::load(&a.model)
        .with_context(|| format!("loading model package {}", a.model.display()))?;
    let inputs = Inputs::load(&a.inputs, &model).context("loading inputs")?;
    let timeout = Duration::from_secs_f64(a.timeout);
    let mut port = Port::open(&a.port, a.baud)?;
    let info = check_info(&mut port, &model, &a.model, timeout)?;
    let frames = inputs.total_frames();
    let pb = crate::cli::progress(frames as u64, "frames", quiet);
    let t0 = Instant::now();
    let logits = run_frames(&mut port, &model, &inputs, timeout, || pb.inc(1))?;
    let seconds = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let expected = golden::run_all(&model, &inputs, |_| {})?;
    let mut mismatches = 0u64;
    let mut first = None;
    for s in 0..inputs.sequences() {
        for t in 0..inputs.length(s) {
            for i in 0..model.output_size() {
                let (e, g) = (expected.logits[(s, t, i)], logits[(s, t, i)]);
                if e != g {
                    mismatches += 1;
                    first.get_or_insert(format!(
                        "sequence {s}, frame {t}, logit {i}: golden {e}, board {g}"
                    ));
                }
            }
        }
    }

    let mut npz = NpzOut::create(&outputs[0], a.force)?;
    npz.add("logits", &logits)?;
    npz.finish()?;
    let report = json!({
        "port": a.port.display().to_string(),
        "baud": a.baud,
        "model": a.model.display().to_string(),
        "inputs": a.inputs.display().to_string(),
        "frames": frames,
        "n_in": info.n_in,
        "n_out": info.n_out,
        "lanes": info.lanes,
        "protocol_version": info.version,
        "bytes_sent": port.bytes_sent,
        "bytes_received": port.bytes_received,
        "seconds": seconds,
        "frames_per_second": frames as f64 / seconds.max(1e-9),
        "mismatches": mismatches,
        "first_mismatch": first,
    });
    format::write_text(
        &outputs[1],
        &(serde_json::to_string_pretty(&report)? + "\n"),
        a.force,
    )?;
    let md = format!(
        "# Board run\n\nPort `{}` at {} baud, model `{}`, inputs `{}`.\n\n\
         | metric | value |\n|---|---|\n| frames | {frames} |\n| inputs / outputs / lanes | {} / {} / {} |\n\
         | bytes sent / received | {} / {} |\n| seconds | {seconds:.3} |\n| frames per second | {:.1} |\n\
         | logits differing from the golden model | {mismatches} |\n",
        a.port.display(),
        a.baud,
        a.model.display(),
        a.inputs.display(),
        info.n_in,
        info.n_out,
        info.lanes,
        port.bytes_sent,
        port.bytes_received,
        frames as f64 / seconds.max(1e-9),
    );
    format::write_text(&outputs[2], &md, a.force)?;
    println!(
        "{frames} frames through {} in {seconds:.2} s ({:.1} frames/s); wrote {}",
        a.port.display(),
        frames as f64 / seconds.max(1e-9),
        a.out.display()
    );
    if let Some(f) = first {
        bail!("{mismatches} logits differ from the golden model; first: {f}");
    }
    println!("all logits match the golden model");
    Ok(())
}
