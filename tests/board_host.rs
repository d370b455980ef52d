//! `deltagen host` against the simulated board: the real command opens the slave side of a
//! pseudo-terminal as its serial port (raw mode, baud rate), this test runs `deltagen_board` in
//! rust-hdl simulation on the master side, moving bytes between the terminal and the serial line
//! model. The host compares the logits with the golden model; the test checks logits.npz too.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use deltagen::config::AccelConfig;
use deltagen::random::{generate, RandomSpec};
use deltagen::{golden, hw};
use deltagen_hdl::board::board_top::DeltaBoard;
use deltagen_hdl::board::sim::BoardSim;
use deltagen_hdl::board::BoardConfig;
use deltagen_hdl::params::build_image;
use ndarray::Array3;
use ndarray_npy::NpzReader;

const DIVISOR: u32 = 4;

/// A pseudo-terminal pair: the master (non-blocking) and the slave's path.
struct Pty {
    master: OwnedFd,
    _slave: OwnedFd,
    path: PathBuf,
}

fn open_pty() -> Pty {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty fills two descriptors; the name buffer is big enough for /dev/pts/N.
    unsafe {
        assert_eq!(
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null()
            ),
            0,
            "openpty: {}",
            std::io::Error::last_os_error()
        );
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ttyname_r(s, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        let flags = libc::fcntl(m, libc::F_GETFL);
        libc::fcntl(m, libc::F_SETFL, flags | libc::O_NONBLOCK);
        Pty {
            master: OwnedFd::from_raw_fd(m),
            _slave: OwnedFd::from_raw_fd(s),
            path: PathBuf::from(path),
        }
    }
}

fn read_master(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    use std::os::fd::AsRawFd;
    // SAFETY: reading into a valid buffer from an open descriptor.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    n.max(0) as usize
}

fn write_master(fd: &OwnedFd, bytes: &[u8]) {
    use std::os::fd::AsRawFd;
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: writing from a valid buffer to an open descriptor.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                bytes[done..].as_ptr().cast(),
                bytes.len() - done,
            )
        };
        assert!(n > 0, "write to pty: {}", std::io::Error::last_os_error());
        done += n as usize;
    }
}

/// Runs the simulated board until `child` exits; returns its exit status and stderr.
fn serve(board: &mut BoardSim, pty: &Pty, mut child: Child) -> (bool, String) {
    let mut buf = [0u8; 256];
    let limit = 3_000_000u64;
    loop {
        // Bytes from the host go onto the line as soon as the line can take them.
        if board.queued() < 64 {
            let n = read_master(&pty.master, &mut buf);
            board.send(&buf[..n]);
        }
        for _ in 0..200 {
            if let Some(b) = board.step().unwrap() {
                write_master(&pty.master, &[b]);
            }
        }
        if board.sim.cycles % 20_000 < 200 {
            if let Some(status) = child.try_wait().unwrap() {
                let out = child.wait_with_output().unwrap();
                return (
                    status.success(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
        }
        if board.sim.cycles > limit {
            child.kill().unwrap();
            panic!("host still running after {limit} board cycles");
        }
    }
}

fn host(pty: &Path, model: &Path, inputs: &Path, out: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("deltagen"))
        .args(["--quiet", "host", "--timeout", "60", "--port"])
        .arg(pty)
        .arg("--model")
        .arg(model)
        .arg("--inputs")
        .arg(inputs)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A board for `widths` on tiny-2pe (model and inputs saved under `dir`).
fn setup(dir: &Path, widths: Vec<usize>, seed: u64) -> (BoardSim, deltagen::model::Model) {
    let cfg = AccelConfig::preset("tiny-2pe").unwrap();
    let mut spec = RandomSpec::new(widths, 2, 6, seed);
    spec.theta = 1;
    spec.change_prob = 0.3;
    let (model, inputs) = generate(&spec);
    model.save(&dir.join("m"), false).unwrap();
    inputs
        .save(&dir.join("m").join("inputs.npz"), false)
        .unwrap();
    let params = hw::hw_params(&cfg);
    let image = build_image(&params, &hw::layer_specs(&model).unwrap()).unwrap();
    let top = DeltaBoard::new(
        &params,
        &image,
        "",
        &BoardConfig::simulation(DIVISOR, cfg.max_in as usize),
    )
    .unwrap();
    (BoardSim::new(top, DIVISOR).unwrap(), model)
}

#[test]
fn host_runs_frames_through_the_simulated_board() {
    let dir = tempfile::tempdir().unwrap();
    let (mut board, model) = setup(dir.path(), vec![16, 8, 3], 51);
    let m = dir.path().join("m");
    let inputs_path = m.join("inputs.npz");
    let out = dir.path().join("out");
    let pty = open_pty();
    let child = host(&pty.path, &m, &inputs_path, &out);
    let (ok, stderr) = serve(&mut board, &pty, child);
    assert!(ok, "deltagen host failed: {stderr}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("host.json")).unwrap()).unwrap();
    assert_eq!(report["mismatches"], 0);
    assert_eq!(report["frames"], 12);
    assert_eq!(report["n_in"], 16);
    // Independent check of what the host wrote.
    let inputs = deltagen::io::Inputs::load(&inputs_path, &model).unwrap();
    let expect = golden::run_all(&model, &inputs, |_| {}).unwrap();
    let mut npz = NpzReader::new(std::fs::File::open(out.join("logits.npz")).unwrap()).unwrap();
    let got: Array3<i32> = npz.by_name("logits").unwrap();
    assert_eq!(got, expect.logits);
    assert!(std::fs::read_to_string(out.join("host.md"))
        .unwrap()
        .contains("| frames | 12 |"));
    assert_eq!(board.framing_errors, 0);
}

/// A board generated for another model is refused by the info check, naming the model file.
#[test]
fn host_refuses_a_board_for_another_model() {
    let dir = tempfile::tempdir().unwrap();
    let (mut board, _) = setup(dir.path(), vec![12, 8, 3], 52);
    let other = dir.path().join("other");
    let (model, inputs) = generate(&RandomSpec::new(vec![16, 8, 3], 1, 2, 53));
    model.save(&other, false).unwrap();
    inputs.save(&other.join("inputs.npz"), false).unwrap();
    let pty = open_pty();
    let out = dir.path().join("out");
    let child = host(&pty.path, &other, &other.join("inputs.npz"), &out);
    let (ok, stderr) = serve(&mut board, &pty, child);
    assert!(!ok);
    assert!(
        stderr.contains("12 inputs and 3 outputs") && stderr.contains("model.json has 16"),
        "{stderr}"
    );
    assert!(!out.join("logits.npz").exists());
}

/// A port that does not exist and outputs that exist give clear errors before any traffic.
#[test]
fn host_reports_a_missing_port_and_existing_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    let (model, inputs) = generate(&RandomSpec::new(vec![4, 3], 1, 2, 54));
    model.save(&m, false).unwrap();
    inputs.save(&m.join("inputs.npz"), false).unwrap();
    let run = |out: &Path| {
        let o = Command::new(assert_cmd::cargo::cargo_bin("deltagen"))
            .args([
                "--quiet",
                "host",
                "--port",
                "/dev/deltagen-no-such-port",
                "--model",
            ])
            .arg(&m)
            .arg("--inputs")
            .arg(m.join("inputs.npz"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(&dir.path().join("out"));
    assert!(
        err.contains("opening serial port /dev/deltagen-no-such-port"),
        "{err}"
    );
    let out = dir.path().join("out2");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("host.json"), "{}").unwrap();
    let err = run(&out);
    assert!(err.contains("--force"), "{err}");
}
