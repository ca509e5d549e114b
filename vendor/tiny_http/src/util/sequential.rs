//! Readers and writers that take turns on one connection: request N's body is read, and its
//! response written, before request N + 1's.
//!
//! PATCH(perf): 0.12.0 passed the socket from one request to the next through two new
//! `mpsc` channels per request (one for the reader, one for the writer), which cost several
//! allocations and atomic hand-offs per request even when a connection's requests are
//! handled strictly in order on one thread. Here each connection has one shared turn
//! counter per direction (allocated once per connection): a reader or writer waits, on a
//! condition variable, only when its turn has not come, and signals only when someone waits.
//! Same ordering guarantees as before.

use std::io::Result as IoResult;
use std::io::{Error as IoError, ErrorKind, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What the readers of one connection share: whose turn it is, and the reader itself while
/// it is between two turns.
struct ReadTurns<R> {
    state: Mutex<ReadState<R>>,
    turn_passed: Condvar,
}

struct ReadState<R> {
    turn: u64,
    reader: Option<R>,
    waiting: usize,
}

/// What the writers of one connection share: whose turn it is, and the writer.
struct WriteTurns<W> {
    state: Mutex<WriteState<W>>,
    turn_passed: Condvar,
}

struct WriteState<W> {
    turn: u64,
    writer: W,
    waiting: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whose turn it is, and how many wait for theirs.
trait Turns {
    fn turn(&self) -> u64;
    fn waiting(&mut self) -> &mut usize;
}

impl<R> Turns for ReadState<R> {
    fn turn(&self) -> u64 {
        self.turn
    }
    fn waiting(&mut self) -> &mut usize {
        &mut self.waiting
    }
}

impl<W> Turns for WriteState<W> {
    fn turn(&self) -> u64 {
        self.turn
    }
    fn waiting(&mut self) -> &mut usize {
        &mut self.waiting
    }
}

/// Waits (counted as a waiter, so the turn's holder knows to signal) until it is `turn`'s
/// turn.
fn wait_for_turn<'a, S: Turns>(
    turn_passed: &Condvar,
    mut state: MutexGuard<'a, S>,
    turn: u64,
) -> MutexGuard<'a, S> {
    while state.turn() != turn {
        *state.waiting() += 1;
        state = turn_passed.wait(state).unwrap_or_else(|e| e.into_inner());
        *state.waiting() -= 1;
    }
    state
}

pub struct SequentialReaderBuilder<R>
where
    R: Read + Send,
{
    turns: Arc<ReadTurns<R>>,
    next_turn: u64,
}

pub struct SequentialReader<R>
where
    R: Read + Send,
{
    turns: Arc<ReadTurns<R>>,
    turn: u64,
    /// The reader, once this reader's turn has come (until it is dropped).
    held: Option<R>,
}

pub struct SequentialWriterBuilder<W>
where
    W: Write + Send,
{
    turns: Arc<WriteTurns<W>>,
    next_turn: u64,
}

pub struct SequentialWriter<W>
where
    W: Write + Send,
{
    turns: Arc<WriteTurns<W>>,
    turn: u64,
}

impl<R: Read + Send> SequentialReaderBuilder<R> {
    pub fn new(reader: R) -> SequentialReaderBuilder<R> {
        SequentialReaderBuilder {
            turns: Arc::new(ReadTurns {
                state: Mutex::new(ReadState {
                    turn: 0,
                    reader: Some(reader),
                    waiting: 0,
                }),
                turn_passed: Condvar::new(),
            }),
            next_turn: 0,
        }
    }
}

impl<W: Write + Send> SequentialWriterBuilder<W> {
    pub fn new(writer: W) -> SequentialWriterBuilder<W> {
        SequentialWriterBuilder {
            turns: Arc::new(WriteTurns {
                state: Mutex::new(WriteState {
                    turn: 0,
                    writer,
                    waiting: 0,
                }),
                turn_passed: Condvar::new(),
            }),
            next_turn: 0,
        }
    }
}

impl<R: Read + Send> Iterator for SequentialReaderBuilder<R> {
    type Item = SequentialReader<R>;

    fn next(&mut self) -> Option<SequentialReader<R>> {
        let turn = self.next_turn;
        self.next_turn += 1;
        Some(SequentialReader {
            turns: self.turns.clone(),
            turn,
            held: None,
        })
    }
}

impl<W: Write + Send> Iterator for SequentialWriterBuilder<W> {
    type Item = SequentialWriter<W>;

    fn next(&mut self) -> Option<SequentialWriter<W>> {
        let turn = self.next_turn;
        self.next_turn += 1;
        Some(SequentialWriter {
            turns: self.turns.clone(),
            turn,
        })
    }
}

impl<R: Read + Send> SequentialReader<R> {
    /// Waits for this reader's turn (the previous reader dropped) and takes the reader.
    fn acquire(&mut self) -> Option<&mut R> {
        if self.held.is_none() {
            let state = lock(&self.turns.state);
            let mut state = wait_for_turn(&self.turns.turn_passed, state, self.turn);
            self.held = state.reader.take();
        }
        self.held.as_mut()
    }

    /// PATCH(body): waits until the previous reader is done, without reading, so the
    /// connection can look at what the previous request left behind before reading on.
    pub fn wait_turn(&mut self) {
        self.acquire();
    }

    /// PATCH(perf): the underlying reader when it is this reader's turn (after
    /// `wait_turn`), so the request head can be parsed from its buffer a chunk at a time.
    pub fn turn_mut(&mut self) -> Option<&mut R> {
        self.held.as_mut()
    }
}

impl<R: Read + Send> Read for SequentialReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        match self.acquire() {
            Some(reader) => reader.read(buf),
            None => Err(IoError::new(
                ErrorKind::ConnectionAborted,
                "the connection's reader is gone",
            )),
        }
    }
}

impl<W: Write + Send> SequentialWriter<W> {
    /// Runs `f` on the writer once this writer's turn has come (the previous one dropped).
    fn with_turn<T>(&mut self, f: impl FnOnce(&mut W) -> T) -> T {
        let state = lock(&self.turns.state);
        let mut state = wait_for_turn(&self.turns.turn_passed, state, self.turn);
        f(&mut state.writer)
    }
}

impl<W: Write + Send> Write for SequentialWriter<W> {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        self.with_turn(|w| w.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> IoResult<()> {
        self.with_turn(|w| w.write_all(buf))
    }

    fn flush(&mut self) -> IoResult<()> {
        self.with_turn(|w| w.flush())
    }
}

impl<R> Drop for SequentialReader<R>
where
    R: Read + Send,
{
    /// Hands the reader to the next turn. A reader whose turn never came first waits for it,
    /// so the order holds.
    fn drop(&mut self) {
        let mut state = lock(&self.turns.state);
        match self.held.take() {
            Some(reader) => state.reader = Some(reader),
            None => state = wait_for_turn(&self.turns.turn_passed, state, self.turn),
        }
        state.turn = self.turn + 1;
        if state.waiting > 0 {
            self.turns.turn_passed.notify_all();
        }
    }
}

impl<W> Drop for SequentialWriter<W>
where
    W: Write + Send,
{
    /// Passes the turn on. A writer whose turn never came first waits for it, so the next
    /// response is never written before this one's predecessor is done.
    fn drop(&mut self) {
        let state = lock(&self.turns.state);
        let mut state = wait_for_turn(&self.turns.turn_passed, state, self.turn);
        state.turn = self.turn + 1;
        if state.waiting > 0 {
            self.turns.turn_passed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SequentialReaderBuilder, SequentialWriterBuilder};
    use std::io::{Cursor, Read, Write};
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn readers_take_turns_in_order_whatever_thread_reads_first() {
        let mut source = SequentialReaderBuilder::new(Cursor::new(b"abcdef".to_vec()));
        let mut first = source.next().unwrap();
        let mut second = source.next().unwrap();
        let later = thread::spawn(move || {
            let mut b = [0u8; 3];
            second.read_exact(&mut b).unwrap();
            b
        });
        thread::sleep(Duration::from_millis(50));
        let mut a = [0u8; 3];
        first.read_exact(&mut a).unwrap();
        assert_eq!(&a, b"abc");
        drop(first);
        assert_eq!(&later.join().unwrap(), b"def");
    }

    /// A writer that is dropped without writing still passes the turn on, and only once the
    /// writers before it are done.
    #[test]
    fn writers_write_in_order_and_an_unused_writer_passes_its_turn() {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let mut sink = SequentialWriterBuilder::new(out.clone());
        let mut one = sink.next().unwrap();
        let unused = sink.next().unwrap();
        let mut three = sink.next().unwrap();
        let third = thread::spawn(move || three.write_all(b"3").unwrap());
        let second = thread::spawn(move || drop(unused));
        thread::sleep(Duration::from_millis(50));
        one.write_all(b"1").unwrap();
        drop(one);
        second.join().unwrap();
        third.join().unwrap();
        assert_eq!(&*out.0.lock().unwrap(), b"13");
    }
}
