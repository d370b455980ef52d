//! The boards `deltagen generate --board` knows: what a synthesis step needs (top module,
//! oscillator, device, constraint file) and how the board top is set up for each (PLL, LED
//! polarity). Pin assignments live in `constraints/`; their port names are the board top's.

use super::clock_gen::ClockPlan;
use super::pll::{self, PllError};
use super::protocol;
use super::uart_rx::MIN_DIVISOR;

/// Name of the board top module in `rtl/deltagen_board.v`.
pub const BOARD_TOP_NAME: &str = "deltagen_board";

/// Default serial rate.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Largest baud-rate error accepted (a receiver tolerates about 4 % between both ends).
pub const MAX_BAUD_ERROR: f64 = 0.02;

/// PLL family of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PllKind {
    Ice40Pad,
    Ecp5,
    Mmcm7,
}

/// One board.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Board {
    /// `--board` name.
    pub name: &'static str,
    pub title: &'static str,
    /// Device family/size as in the config's `target` (`config::TARGETS`).
    pub target: &'static str,
    /// Part number.
    pub device: &'static str,
    /// Place-and-route arguments naming the device and package (nextpnr), or empty for
    /// vendor tools.
    pub pnr_args: &'static [&'static str],
    /// Oscillator on the clock pin.
    pub clock_pin_mhz: f64,
    /// Constraint file, relative to the repository root.
    pub constraints: &'static str,
    pub top: &'static str,
    pub pll: PllKind,
    /// LEDs that light on a low level: (heartbeat, busy, error).
    pub led_active_low: [bool; 3],
}

pub const BOARDS: &[Board] = &[
    Board {
        name: "icebreaker",
        title: "iCEBreaker (iCE40 UP5K)",
        target: "ice40-up5k",
        device: "iCE40UP5K-SG48",
        pnr_args: &["--up5k", "--package", "sg48"],
        clock_pin_mhz: 12.0,
        constraints: "constraints/icebreaker.pcf",
        top: BOARD_TOP_NAME,
        pll: PllKind::Ice40Pad,
        // Green and red LEDs of the main board are active low; the busy LED is LED1 of the
        // snap-off PMOD (active high).
        led_active_low: [true, false, true],
    },
    Board {
        name: "ulx3s",
        title: "ULX3S (ECP5-85F)",
        target: "ecp5-85k",
        device: "LFE5U-85F-6BG381C",
        pnr_args: &["--85k", "--package", "CABGA381"],
        clock_pin_mhz: 25.0,
        constraints: "constraints/ulx3s.lpf",
        top: BOARD_TOP_NAME,
        pll: PllKind::Ecp5,
        led_active_low: [false, false, false],
    },
    Board {
        name: "arty-a7",
        title: "Arty A7-35T (Artix-7, Vivado)",
        target: "xilinx-7",
        device: "xc7a35ticsg324-1L",
        pnr_args: &[],
        clock_pin_mhz: 100.0,
        constraints: "constraints/arty-a7.xdc",
        top: BOARD_TOP_NAME,
        pll: PllKind::Mmcm7,
        led_active_low: [false, false, false],
    },
];

/// The board called `name`.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// The names of all boards, for messages.
pub fn board_names() -> Vec<&'static str> {
    BOARDS.iter().map(|b| b.name).collect()
}

/// What the board top will run at: PLL setting, achieved clock, UART divisor.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardPlan {
    pub board: &'static Board,
    pub clock: ClockPlan,
    pub baud: u32,
    /// Clock cycles per UART bit at the achieved clock.
    pub divisor: u32,
    /// The rate the divisor really gives, and its relative error.
    pub baud_actual: f64,
    pub baud_error: f64,
}

impl BoardPlan {
    pub fn clock_mhz(&self) -> f64 {
        self.clock.f_out_mhz()
    }
}

/// Clock cycles per bit for `baud` at `clock_mhz` (rounded), with its achieved rate; refuses
/// rates the receiver cannot sample (divisor < 4) or that miss by more than 2 %.
pub fn baud_divisor(clock_mhz: f64, baud: u32) -> Result<(u32, f64, f64), PllError> {
    if baud == 0 {
        return Err(PllError("baud rate 0".into()));
    }
    let exact = clock_mhz * 1e6 / f64::from(baud);
    let divisor = exact.round();
    if divisor < f64::from(MIN_DIVISOR) || divisor > 65535.0 {
        return Err(PllError(format!(
            "baud {baud} at {clock_mhz} MHz needs {exact:.1} clock cycles per bit; the UART \
             takes {MIN_DIVISOR}..=65535"
        )));
    }
    let actual = clock_mhz * 1e6 / divisor;
    let error = actual / f64::from(baud) - 1.0;
    if error.abs() > MAX_BAUD_ERROR {
        return Err(PllError(format!(
            "baud {baud} at {clock_mhz} MHz: divisor {divisor} gives {actual:.0} baud \
             ({:.2} % off, at most {} % works)",
            error * 100.0,
            MAX_BAUD_ERROR * 100.0
        )));
    }
    Ok((divisor as u32, actual, error))
}

impl Board {
    /// The PLL setting for a design clock of `clock_mhz` and the UART divisor for `baud` at the
    /// clock the PLL really makes.
    pub fn plan(&'static self, clock_mhz: f64, baud: u32) -> Result<BoardPlan, PllError> {
        let clock = match self.pll {
            PllKind::Ice40Pad => {
                ClockPlan::Ice40Pad(pll::ice40_pll(self.clock_pin_mhz, clock_mhz)?)
            }
            PllKind::Ecp5 => ClockPlan::Ecp5(pll::ecp5_pll(self.clock_pin_mhz, clock_mhz)?),
            PllKind::Mmcm7 => ClockPlan::Mmcm7(pll::mmcm7(self.clock_pin_mhz, clock_mhz)?),
        };
        let (divisor, baud_actual, baud_error) = baud_divisor(clock.f_out_mhz(), baud)?;
        Ok(BoardPlan {
            board: self,
            clock,
            baud,
            divisor,
            baud_actual,
            baud_error,
        })
    }
}

/// Everything the board top needs besides the accelerator.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardConfig {
    pub clock: ClockPlan,
    /// UART clock cycles per bit.
    pub divisor: u32,
    /// Receive FIFO bytes (`protocol::fifo_depth`).
    pub fifo_depth: usize,
    /// (heartbeat, busy, error) LEDs lit by a low level.
    pub led_active_low: [bool; 3],
    /// Cycles between heartbeat LED toggles.
    pub heartbeat_half_period: u32,
    /// Cycles the busy LED stays lit after the accelerator was busy (frames take microseconds).
    pub busy_stretch: u32,
}

impl BoardConfig {
    /// The board top for `plan` and an accelerator holding inputs up to `max_in` elements.
    pub fn for_plan(plan: &BoardPlan, max_in: usize) -> BoardConfig {
        let hz = plan.clock_mhz() * 1e6;
        BoardConfig {
            clock: plan.clock,
            divisor: plan.divisor,
            fifo_depth: protocol::fifo_depth(max_in),
            led_active_low: plan.board.led_active_low,
            // 1 Hz blink, busy visible for 50 ms.
            heartbeat_half_period: (hz / 2.0) as u32,
            busy_stretch: (hz / 20.0) as u32,
        }
    }

    /// A board top for simulation: no PLL, `divisor` cycles per bit, short LED timers.
    pub fn simulation(divisor: u32, max_in: usize) -> BoardConfig {
        BoardConfig {
            clock: ClockPlan::Direct { f_mhz: 1.0 },
            divisor,
            fifo_depth: protocol::fifo_depth(max_in),
            led_active_low: [false, false, false],
            heartbeat_half_period: 100,
            busy_stretch: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_plan_their_clocks() {
        let ice = board("icebreaker").unwrap();
        let p = ice.plan(50.0, DEFAULT_BAUD).unwrap();
        assert!((p.clock_mhz() - 50.25).abs() < 1e-9);
        // 50.25 MHz / 115200 = 436.2 cycles per bit.
        assert_eq!(p.divisor, 436);
        assert!(p.baud_error.abs() < 0.001);
        let ulx = board("ulx3s").unwrap().plan(50.0, DEFAULT_BAUD).unwrap();
        assert_eq!(ulx.divisor, 434);
        let arty = board("arty-a7").unwrap().plan(100.0, 921_600).unwrap();
        assert_eq!(arty.divisor, 109);
        assert!(board("de10").is_none());
        // 3 Mbaud at 12 MHz is 4 cycles per bit; 6 Mbaud is too fast.
        assert_eq!(baud_divisor(12.0, 3_000_000).unwrap().0, 4);
        assert!(baud_divisor(12.0, 6_000_000).is_err());
        // 1 Mbaud at 12.5 MHz: 12.5 cycles per bit, 13 is 3.8 % slow.
        assert!(baud_divisor(12.5, 1_000_000).is_err());
    }
}
