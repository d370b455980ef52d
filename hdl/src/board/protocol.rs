//! The serial framing protocol of the board top (docs/board.md is its specification). The
//! bridge RTL and `deltagen host` both take their byte values from here.

/// Host → board: a frame that starts a new sequence, followed by `n_in` int8 bytes.
pub const CMD_SEQUENCE: u8 = b'S';
/// Host → board: a frame that continues the sequence, followed by `n_in` int8 bytes.
pub const CMD_FRAME: u8 = b'F';
/// Host → board: ask for the info reply.
pub const CMD_INFO: u8 = b'?';

/// Board → host: header of a frame's result: `n_out` int32 little-endian, then a status byte.
pub const REPLY_LOGITS: u8 = b'L';
/// Board → host: header of the info reply: n_in u16 LE, n_out u16 LE, lanes u8, version u8.
pub const REPLY_INFO: u8 = b'I';
/// Bytes of the info reply after its header.
pub const INFO_LEN: usize = 6;
/// Protocol version the info reply carries.
pub const VERSION: u8 = 1;

/// Status byte bits (sticky until the FPGA is configured again).
/// The accelerator saw a `tlast` that disagrees with the model's input width.
pub const STATUS_ACCEL_ERROR: u8 = 1 << 0;
/// The receive FIFO was full and bytes were lost (the host sent too far ahead).
pub const STATUS_OVERFLOW: u8 = 1 << 1;
/// A byte that is no command arrived where a command was expected (it was dropped).
pub const STATUS_BAD_COMMAND: u8 = 1 << 2;
/// A received byte had no stop bit (baud mismatch or line noise); it was dropped.
pub const STATUS_FRAMING: u8 = 1 << 3;

/// Frames the host may send before reading the oldest frame's result (the receive FIFO holds
/// two whole frames).
pub const WINDOW: usize = 2;

/// Names of the status bits that are set, for error messages.
pub fn status_text(status: u8) -> String {
    let mut parts = Vec::new();
    for (bit, name) in [
        (STATUS_ACCEL_ERROR, "accelerator tlast error"),
        (STATUS_OVERFLOW, "receive FIFO overflow"),
        (STATUS_BAD_COMMAND, "unknown command byte"),
        (STATUS_FRAMING, "UART framing error"),
    ] {
        if status & bit != 0 {
            parts.push(name);
        }
    }
    if parts.is_empty() {
        "ok".into()
    } else {
        parts.join(", ")
    }
}

/// Receive FIFO depth for inputs up to `max_in` elements: a power of two holding `WINDOW`
/// frames with their command bytes.
pub fn fifo_depth(max_in: usize) -> usize {
    (WINDOW * (max_in + 1)).next_power_of_two().max(16)
}

/// The bytes of one frame command.
pub fn frame_bytes(seq_start: bool, x: &[i8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(x.len() + 1);
    v.push(if seq_start { CMD_SEQUENCE } else { CMD_FRAME });
    v.extend(x.iter().map(|b| *b as u8));
    v
}

/// Length of a logits reply (header, 4 bytes per logit, status).
pub fn logits_reply_len(n_out: usize) -> usize {
    2 + 4 * n_out
}

/// Board information from an info reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub n_in: u16,
    pub n_out: u16,
    pub lanes: u8,
    pub version: u8,
}

impl Info {
    pub fn parse(payload: &[u8; INFO_LEN]) -> Info {
        Info {
            n_in: u16::from_le_bytes([payload[0], payload[1]]),
            n_out: u16::from_le_bytes([payload[2], payload[3]]),
            lanes: payload[4],
            version: payload[5],
        }
    }
}

/// Splits a logits reply (without its header byte) into logits and the status byte.
pub fn parse_logits(body: &[u8]) -> (Vec<i32>, u8) {
    let n = (body.len() - 1) / 4;
    let logits = (0..n)
        .map(|i| {
            i32::from_le_bytes([
                body[4 * i],
                body[4 * i + 1],
                body[4 * i + 2],
                body[4 * i + 3],
            ])
        })
        .collect();
    (logits, body[body.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_holds_the_window() {
        assert_eq!(fifo_depth(64), 256);
        assert_eq!(fifo_depth(256), 1024);
        assert_eq!(fifo_depth(3), 16);
        assert!(fifo_depth(511) >= WINDOW * 512);
    }

    #[test]
    fn logits_round_trip() {
        let mut body = Vec::new();
        for v in [-1i32, 7, i32::MIN] {
            body.extend(v.to_le_bytes());
        }
        body.push(STATUS_OVERFLOW);
        assert_eq!(
            parse_logits(&body),
            (vec![-1, 7, i32::MIN], STATUS_OVERFLOW)
        );
        assert_eq!(status_text(0), "ok");
        assert_eq!(
            status_text(STATUS_OVERFLOW | STATUS_FRAMING),
            "receive FIFO overflow, UART framing error"
        );
    }
}
