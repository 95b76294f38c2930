//! Zero-copy scrapes: the plain exposition is sent the way nginx sends a static file.
//!
//! A plain scrape of 1,000 categories is 200 kB. Copying it from our memory into the socket
//! on every scrape took a third of the server's CPU time (`perf record` under `wrk`), and it
//! is the one copy that can be avoided: the plain text, inflated once per poll, is written
//! into a sealed in-memory file ([`Files::freeze_with`], `memfd_create(2)`), which the rest
//! of the program reads as ordinary [`Bytes`] through a read-only mapping, and a
//! connection's [`Socket`] sends whatever part of a write lies in such a file with
//! `sendfile(2)`, which hands the file's pages to TCP instead of copying them.
//!
//! A file costs more to make and fill than heap memory: 175 µs against 120 µs for 200 kB,
//! 20 µs against nothing for 100 bytes (measured on the project's machine). So only the plain
//! text is frozen: the gzip answer, an eighth of the size, costs less to copy on each scrape
//! than to freeze on each poll.
//!
//! hyper only passes byte slices down to the socket, so [`Socket`] recognises a frozen buffer
//! by its address. That is sound: the address range of a live mapping belongs to that mapping
//! alone, and the [`Bytes`] hyper is writing keeps its mapping alive until the write returns.
//! Everything else, and everything where in-memory files are not available (other systems, a
//! sandbox refusing `memfd_create`), is written as before, with a copy.
//!
//! The frozen pages are mapped and populated, so they count in the process's resident set
//! (`VmRSS`, as `RssShmem`) like the heap buffers they replace.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tracing::warn;

/// The name the frozen files carry in `/proc/PID/fd` (as `/memfd:smartlead-exposition`).
pub const FILE_NAME: &str = "smartlead-exposition";

/// The frozen buffers that are still alive, for [`Socket`]s to look their slices up in.
///
/// Clones share one list. It holds one or two live entries: the latest poll's text and, while
/// a scrape is still sending it, the previous poll's.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// Weak, so that a buffer's file is closed as soon as the last [`Bytes`] of it drops.
    live: Arc<RwLock<Vec<Weak<Frozen>>>>,
    /// Whether a failure to create a file was logged: said once, then buffers silently stay
    /// on the heap.
    warned: Arc<AtomicBool>,
}

/// A sealed in-memory file and its read-only mapping.
#[derive(Debug)]
struct Frozen {
    #[cfg(target_os = "linux")]
    /// The file, sealed against writes and resizing: `sendfile(2)` reads it.
    file: std::fs::File,
    #[cfg(target_os = "linux")]
    /// The same bytes as memory, for everything that reads the buffer itself.
    map: memmap2::Mmap,
}

impl Frozen {
    fn bytes(&self) -> &[u8] {
        #[cfg(target_os = "linux")]
        {
            &self.map
        }
        #[cfg(not(target_os = "linux"))]
        {
            &[]
        }
    }

    /// Where `slice` starts in this file, if it lies wholly inside it.
    fn offset_of(&self, slice: &[u8]) -> Option<u64> {
        let bytes = self.bytes();
        let (base, at) = (bytes.as_ptr() as usize, slice.as_ptr() as usize);
        let inside = !slice.is_empty() && base <= at && at + slice.len() <= base + bytes.len();
        inside.then(|| (at - base) as u64)
    }
}

/// The owner of a frozen buffer's memory, for [`Bytes::from_owner`].
struct Owner(Arc<Frozen>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

impl Files {
    /// A frozen buffer of up to `len` bytes written in place by `fill`, which returns how many
    /// it wrote; the heap is used where files are not available.
    pub fn freeze_with(&self, len: usize, fill: impl FnOnce(&mut [u8]) -> usize) -> Bytes {
        if len == 0 {
            return Bytes::new();
        }
        match imp::Blank::new(len) {
            Ok(mut blank) => {
                let written = fill(blank.as_mut());
                self.seal(blank, written)
            }
            Err(e) => {
                self.warn_once(&e);
                on_heap(len, fill)
            }
        }
    }

    /// Seals the first `written` bytes of `blank` and lists them for the sockets.
    fn seal(&self, blank: imp::Blank, written: usize) -> Bytes {
        match blank.seal(written) {
            Ok(frozen) => {
                let frozen = Arc::new(frozen);
                let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
                live.retain(|weak| weak.strong_count() > 0);
                live.push(Arc::downgrade(&frozen));
                drop(live);
                Bytes::from_owner(Owner(frozen))
            }
            Err((e, bytes)) => {
                self.warn_once(&e);
                Bytes::from(bytes)
            }
        }
    }

    /// The frozen file `slice` lies in and its offset there.
    fn locate(&self, slice: &[u8]) -> Option<(Arc<Frozen>, u64)> {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.iter().filter_map(Weak::upgrade).find_map(|frozen| {
            let offset = frozen.offset_of(slice)?;
            Some((frozen, offset))
        })
    }

    fn warn_once(&self, error: &io::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            warn!(
                %error,
                "cannot keep the exposition in an in-memory file; scrapes copy it instead \
                 (slower, otherwise the same)"
            );
        }
    }

    /// A connection's socket that sends these files' bytes without copying them.
    pub fn socket(&self, tcp: TcpStream) -> Socket {
        Socket {
            tcp,
            files: self.clone(),
            sent_from_files: 0,
        }
    }
}

/// What [`Files::freeze_with`] makes where no file can be made: the same bytes, on the heap.
fn on_heap(len: usize, fill: impl FnOnce(&mut [u8]) -> usize) -> Bytes {
    let mut buf = vec![0; len];
    let written = fill(&mut buf).min(len);
    buf.truncate(written);
    Bytes::from(buf)
}

/// A TCP connection that sends frozen buffers with `sendfile(2)` and everything else with
/// `writev(2)`, corked so that the pieces of one write leave as one stream of full segments.
#[derive(Debug)]
pub struct Socket {
    /// The connection.
    tcp: TcpStream,
    /// Where to look slices up.
    files: Files,
    /// Bytes sent straight from frozen files so far: what the zero-copy path saved.
    sent_from_files: u64,
}

impl Socket {
    /// Bytes this socket sent straight from frozen files, without copying them.
    pub fn sent_from_files(&self) -> u64 {
        self.sent_from_files
    }
}

/// What one [`send`] did.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    /// Bytes of the write sent, in order from its start.
    total: usize,
    /// Of those, how many went by `sendfile`.
    from_files: usize,
}

/// Sends `bufs` in order, `sendfile` for frozen slices and one `writev` for each run of other
/// ones, until all is sent or the socket is full. [`io::ErrorKind::WouldBlock`] (or another
/// error) only if nothing at all was sent; after a partial send, the caller's next write
/// meets the error again. A write without frozen slices is one plain `writev`.
fn send(tcp: &TcpStream, files: &Files, bufs: &[IoSlice<'_>]) -> io::Result<Sent> {
    let mut corked = false;
    let result = send_parts(tcp, files, bufs, &mut corked);
    if corked {
        // Uncorking pushes out the last partial segment. Should it fail, the kernel still
        // sends that segment within 200 ms: late, never lost.
        let _ = imp::cork(tcp, false);
    }
    match result {
        (sent, _) if sent.total > 0 => Ok(sent),
        (_, Err(e)) => Err(e),
        (sent, Ok(())) => Ok(sent),
    }
}

/// [`send`] without the uncorking: what was sent, and why it stopped early if it did. Corks
/// the socket (and sets `corked`) on meeting the first frozen slice of a write of several
/// pieces, before anything of that write is sent, so that the pieces leave as full segments.
fn send_parts(
    tcp: &TcpStream,
    files: &Files,
    bufs: &[IoSlice<'_>],
    corked: &mut bool,
) -> (Sent, io::Result<()>) {
    let mut sent = Sent::default();
    let mut run_start = 0;
    for index in 0..=bufs.len() {
        let frozen = bufs
            .get(index)
            .and_then(|buf| Some((buf.len(), files.locate(buf)?)));
        if frozen.is_none() && index < bufs.len() {
            continue;
        }
        if frozen.is_some() && !*corked && bufs.len() > 1 {
            *corked = imp::cork(tcp, true).is_ok();
        }
        let run = bufs.get(run_start..index).unwrap_or_default();
        let wanted: usize = run.iter().map(|buf| buf.len()).sum();
        if wanted > 0 {
            match tcp.try_write_vectored(run) {
                Ok(n) => {
                    sent.total += n;
                    if n < wanted {
                        return (sent, Ok(()));
                    }
                }
                Err(e) => return (sent, Err(e)),
            }
        }
        let Some((len, (file, offset))) = frozen else {
            break;
        };
        match imp::sendfile(tcp, &file, offset, len) {
            Ok(n) => {
                sent.total += n;
                sent.from_files += n;
                if n < len {
                    return (sent, Ok(()));
                }
            }
            Err(e) => return (sent, Err(e)),
        }
        run_start = index + 1;
    }
    (sent, Ok(()))
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            // `try_io` clears the readiness when the closure would block, so that the next
            // `poll_write_ready` waits for the socket to drain.
            let result = self
                .tcp
                .try_io(Interest::WRITABLE, || send(&self.tcp, &self.files, bufs));
            match result {
                Ok(sent) => {
                    self.sent_from_files += sent.from_files as u64;
                    return Poll::Ready(Ok(sent.total));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The system calls, on Linux.
#[cfg(target_os = "linux")]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;

    use memmap2::{Mmap, MmapMut, MmapOptions};
    use rustix::fs::{MemfdFlags, SealFlags};
    use tokio::net::TcpStream;

    use super::{Frozen, FILE_NAME};

    /// A new in-memory file, mapped writable to be filled.
    pub(super) struct Blank {
        file: File,
        map: MmapMut,
    }

    impl Blank {
        pub(super) fn new(len: usize) -> io::Result<Self> {
            let fd = rustix::fs::memfd_create(
                FILE_NAME,
                MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
            )?;
            let file = File::from(fd);
            file.set_len(len as u64)?;
            // SAFETY: the file was just created and its descriptor is ours alone (close-on-
            // exec, never passed on): nothing else can resize or write it while it is mapped.
            // Populated: one batch of page allocations instead of a fault per page.
            let map = unsafe { MmapOptions::new().populate().map_mut(&file)? };
            Ok(Self { file, map })
        }

        pub(super) fn as_mut(&mut self) -> &mut [u8] {
            &mut self.map
        }

        /// Seals the file against any change and makes its mapping read-only, after cutting
        /// it to `written` bytes if the fill came short. On failure, the bytes as a heap
        /// buffer.
        pub(super) fn seal(self, written: usize) -> Result<Frozen, (io::Error, Vec<u8>)> {
            let Self { file, map } = self;
            let len = written.min(map.len());
            let sealed = if len == map.len() {
                seal_in_place(&file, map)
            } else {
                // Cutting a file under a live mapping would leave part of the mapping
                // unbacked: map it anew instead. Happens only if inflating failed.
                drop(map);
                seal_and_map(&file, len)
            };
            match sealed {
                Ok(map) => Ok(Frozen { file, map }),
                Err(e) => {
                    let mut bytes = vec![0; len];
                    let bytes = match file.read_exact_at(&mut bytes, 0) {
                        Ok(()) => bytes,
                        Err(_) => Vec::new(),
                    };
                    Err((e, bytes))
                }
            }
        }
    }

    /// The seals: no growing, shrinking, or writing other than through a mapping made before
    /// (which is then made read-only), and no removing these seals.
    const SEALS: SealFlags = SealFlags::SHRINK
        .union(SealFlags::GROW)
        .union(SealFlags::FUTURE_WRITE)
        .union(SealFlags::SEAL);

    fn seal_in_place(file: &File, map: MmapMut) -> io::Result<Mmap> {
        rustix::fs::fcntl_add_seals(file, SEALS)?;
        map.make_read_only()
    }

    fn seal_and_map(file: &File, len: usize) -> io::Result<Mmap> {
        file.set_len(len as u64)?;
        rustix::fs::fcntl_add_seals(file, SEALS)?;
        // SAFETY: the file is sealed against writing, shrinking and growing, and against
        // removing those seals: the mapped bytes can never change or vanish.
        unsafe { MmapOptions::new().populate().map(file) }
    }

    pub(super) fn cork(tcp: &TcpStream, on: bool) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_tcp_cork(tcp, on)?)
    }

    pub(super) fn sendfile(
        tcp: &TcpStream,
        frozen: &Frozen,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        let mut offset = offset;
        Ok(rustix::fs::sendfile(
            tcp,
            &frozen.file,
            Some(&mut offset),
            len,
        )?)
    }
}

/// Elsewhere no file is ever made, so the sockets never call the others.
#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    use tokio::net::TcpStream;

    use super::Frozen;

    /// Never made: [`Blank::new`] always fails, and buffers stay on the heap.
    pub(super) enum Blank {}

    impl Blank {
        pub(super) fn new(_len: usize) -> io::Result<Self> {
            Err(io::ErrorKind::Unsupported.into())
        }

        pub(super) fn as_mut(&mut self) -> &mut [u8] {
            match *self {}
        }

        pub(super) fn seal(self, _written: usize) -> Result<Frozen, (io::Error, Vec<u8>)> {
            match self {}
        }
    }

    pub(super) fn cork(_tcp: &TcpStream, _on: bool) -> io::Result<()> {
        Ok(())
    }

    pub(super) fn sendfile(
        _tcp: &TcpStream,
        _frozen: &Frozen,
        _offset: u64,
        _len: usize,
    ) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Larger than any socket buffer, so that sends stop part-way and resume.
    const LARGE: usize = 8 * 1024 * 1024;

    fn freeze(files: &Files, bytes: &[u8]) -> Bytes {
        files.freeze_with(bytes.len(), |buf| {
            buf.copy_from_slice(bytes);
            bytes.len()
        })
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn frozen_buffers_read_back_and_are_found_by_address() {
        let files = Files::default();
        let frozen = freeze(&files, b"hello, frozen world");
        assert_eq!(&frozen[..], b"hello, frozen world");
        let (_, offset) = files
            .locate(&frozen[7..13])
            .expect("a slice of a frozen buffer");
        assert_eq!(offset, 7);
        let heap = b"hello, frozen world".to_vec();
        assert!(files.locate(&heap).is_none());
        assert!(files.locate(&frozen[..0]).is_none());
        // A slice of another registry's buffer is not this one's.
        assert!(Files::default().locate(&frozen).is_none());
        let fds = std::fs::read_dir("/proc/self/fd").unwrap();
        let named = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().contains(FILE_NAME))
            .count();
        assert!(
            named >= 1,
            "no /memfd:{FILE_NAME} among this process's files"
        );
    }

    #[test]
    fn a_short_fill_is_cut_and_the_file_closes_with_its_last_buffer() {
        let files = Files::default();
        let frozen = files.freeze_with(4096, |buf| {
            buf[..5].copy_from_slice(b"short");
            5
        });
        assert_eq!(&frozen[..], b"short");
        assert_eq!(files.live.read().unwrap().len(), 1);
        let copy = frozen.slice(1..3);
        drop(frozen);
        assert_eq!(&copy[..], b"ho");
        assert!(files.locate(&copy).is_some());
        drop(copy);
        let live = files.live.read().unwrap();
        assert!(live.iter().all(|weak| weak.strong_count() == 0));
        drop(live);
        assert!(files.freeze_with(0, |_| 0).is_empty());
        assert!(files.freeze_with(4096, |_| 0).is_empty());
    }

    #[test]
    fn without_files_the_same_bytes_stay_on_the_heap() {
        let bytes = on_heap(8, |buf| {
            buf[..3].copy_from_slice(b"abc");
            3
        });
        assert_eq!(&bytes[..], b"abc");
        assert!(Files::default().locate(&bytes).is_none());
        // A fill claiming more than the room is held to the room.
        assert_eq!(on_heap(2, |_| 10).len(), 2);
    }

    /// A connected pair on loopback: the accepted side wrapped in a [`Socket`], and the client.
    async fn pair(files: &Files) -> (Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (files.socket(server), client)
    }

    /// Writes `parts` with vectored writes, as hyper does, advancing past partial sends.
    async fn write_parts(socket: &mut Socket, parts: &[&[u8]]) -> io::Result<()> {
        let (mut part, mut offset) = (0, 0);
        while part < parts.len() {
            let mut slices = vec![IoSlice::new(&parts[part][offset..])];
            slices.extend(parts[part + 1..].iter().map(|p| IoSlice::new(p)));
            let mut n = socket.write_vectored(&slices).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            while n > 0 && part < parts.len() {
                let left = parts[part].len() - offset;
                if n >= left {
                    n -= left;
                    part += 1;
                    offset = 0;
                } else {
                    offset += n;
                    n = 0;
                }
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn mixed_writes_arrive_whole_and_in_order_through_a_slow_reader() {
        let files = Files::default();
        let body = freeze(&files, &pattern(LARGE));
        let (mut socket, mut client) = pair(&files).await;
        let reader = tokio::spawn(async move {
            // Slow at first, so that the socket fills and sends stop part-way.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received
        });
        let parts: [&[u8]; 4] = [b"HEAD\r\n", &body[3..], b"tail", &body[..3]];
        write_parts(&mut socket, &parts).await.unwrap();
        assert_eq!(socket.sent_from_files(), LARGE as u64);
        socket.shutdown().await.unwrap();
        drop(socket);
        let received = reader.await.unwrap();
        let expected = parts.concat();
        assert_eq!(received.len(), expected.len());
        assert!(
            received == expected,
            "the bytes arrived changed or reordered"
        );
    }

    #[tokio::test]
    async fn writes_without_frozen_bytes_take_the_ordinary_path() {
        let files = Files::default();
        let (mut socket, mut client) = pair(&files).await;
        write_parts(&mut socket, &[b"plain ", b"bytes"])
            .await
            .unwrap();
        socket.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"plain bytes");
        assert_eq!(socket.sent_from_files(), 0);
    }

    #[tokio::test]
    async fn a_peer_that_leaves_mid_send_is_an_error_not_a_crash() {
        let files = Files::default();
        let body = freeze(&files, &pattern(LARGE));
        let (mut socket, client) = pair(&files).await;
        drop(client);
        let mut result = Ok(());
        for _ in 0..4 {
            result = write_parts(&mut socket, &[b"HEAD", &body]).await;
            if result.is_err() {
                break;
            }
        }
        let error = result.expect_err("sending 32 MiB to a closed peer must fail");
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{error}"
        );
    }
}
