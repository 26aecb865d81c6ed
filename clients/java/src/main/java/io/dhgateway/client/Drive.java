package io.dhgateway.client;

import com.google.protobuf.ByteString;
import io.dhgateway.v1.Completed;
import io.dhgateway.v1.DriveConfig;
import io.dhgateway.v1.DriveEvent;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.DriveRequest;
import io.dhgateway.v1.ErrorReason;
import io.dhgateway.v1.Interrupt;
import io.dhgateway.v1.Mark;
import io.dhgateway.v1.PlaybackFinished;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One open {@code Drive} stream: one utterance. Push audio with {@link #send(byte[])} (it waits
 * while the gateway holds the stream back: HTTP/2 flow control is how the gateway paces), put
 * marks between chunks with {@link #mark(String)}, {@link #end()} it, and read the gateway's
 * events with {@link #next()} or a for-each loop. The last event of a successful drive is {@code
 * completed}; a failed drive throws {@link DriveException} from the reading methods.
 *
 * <p>A drive that sent audio also reports what the avatar played, as typed {@link DriveEvent}
 * cases: {@code playback_started} ({@code PlaybackStarted}: the avatar began to speak), {@code
 * mark_played} ({@code MarkPlayed}: the audio before a mark has played, in order), and {@code
 * playback_finished} ({@code PlaybackFinished}: how much it played, whether it was cut short),
 * which comes before {@code completed}: once {@code completed} arrives the avatar is silent.
 * {@link #playbackFinished()} keeps the last for after the loop.
 *
 * <p>{@link #cancel()} (or {@link #close()} before the drive ended) resets the stream at once: the
 * gateway sends the avatar its Stop, but the avatar plays what it was already sent; {@link
 * #interrupt()} silences it (barge-in). Sending and reading may happen on different threads;
 * events are for one reader. A text drive ({@link DriveOptions.Builder#text}) sends no audio and
 * ends by itself: do not {@link #end()} it, so that an interrupt still goes in-stream.
 *
 * <pre>{@code
 * try (Drive drive = client.open("task-id", options)) {
 *   drive.sendAllInBackground(chunks);   // sends, then half-closes
 *   for (DriveEvent event : drive) {
 *     System.out.println(event.getEventCase());
 *   }
 * }
 * }</pre>
 */
public final class Drive implements AutoCloseable, Iterable<DriveEvent> {
  private static final Object END = new Object();

  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ClientCallStreamObserver<DriveRequest> requests;

  // Guarded by lock.
  private boolean finished;
  private boolean cancelled;
  private boolean halfClosed;
  private boolean interrupted;
  private Thread writer;

  // Written before END is queued; read by the reader after taking END.
  private volatile Throwable failure;
  // The gateway's PlaybackFinished, once it came.
  private volatile PlaybackFinished playbackFinished;
  // The reader's own state.
  private boolean endSeen;
  // Calls StopDrive INTERRUPT for the drive's task: interrupt() after the half-close.
  private final Consumer<DriveConfig> stopper;
  private final DriveConfig config;
  // Set before the StopDrive call; read by the reader when the drive ends.
  private volatile boolean stoppedByUs;

  Drive(DriveGatewayGrpc.DriveGatewayStub stub, DriveConfig config, Consumer<DriveConfig> stopper) {
    this.stopper = stopper;
    this.config = config;
    Observer observer = new Observer();
    stub.drive(observer);
    this.requests = observer.requests;
    lock.lock();
    try {
      requests.onNext(DriveRequest.newBuilder().setConfig(config).build());
    } finally {
      lock.unlock();
    }
  }

  /** See {@link #send(ByteString)}. */
  public boolean send(byte[] chunk) throws InterruptedException {
    return send(ByteString.copyFrom(chunk));
  }

  /**
   * Sends a chunk of audio, first waiting until the stream can take it (backpressure).
   *
   * @return {@code false} when the drive already ended (the gateway's status, read from the
   *     events, says why) or was cancelled: stop sending.
   * @throws IllegalStateException after {@link #end()}.
   * @throws InterruptedException the wait was interrupted; nothing was sent.
   */
  public boolean send(ByteString chunk) throws InterruptedException {
    return write(DriveRequest.newBuilder().setAudio(chunk).build(), "send()");
  }

  /**
   * Puts a mark after the audio sent so far, first waiting until the stream can take it like
   * {@link #send(ByteString)}. The gateway answers with a {@code mark_played} event of this name
   * once the avatar has played that audio. {@code name} is 1 to 256 bytes of UTF-8; the gateway
   * fails the drive with {@code INVALID_ARGUMENT} otherwise (or after too many marks).
   *
   * @return {@code false} when the drive already ended or was cancelled.
   * @throws IllegalStateException after {@link #end()}.
   * @throws InterruptedException the wait was interrupted; nothing was sent.
   */
  public boolean mark(String name) throws InterruptedException {
    Mark mark = Mark.newBuilder().setName(Objects.requireNonNull(name, "name")).build();
    return write(DriveRequest.newBuilder().setMark(mark).build(), "mark()");
  }

  /** Sends one input: {@link #send(ByteString)} for audio, {@link #mark(String)} for a mark. */
  public boolean send(DriveInput input) throws InterruptedException {
    if (input instanceof DriveInput.Mark mark) {
      return mark(mark.name());
    }
    return send(((DriveInput.Audio) input).chunk());
  }

  private boolean write(DriveRequest request, String what) throws InterruptedException {
    lock.lockInterruptibly();
    try {
      if (interrupted) {
        return false;
      }
      if (halfClosed) {
        throw new IllegalStateException(what + " after end()");
      }
      while (!finished && !cancelled && !interrupted && !requests.isReady()) {
        changed.await();
      }
      if (finished || cancelled || interrupted) {
        return false;
      }
      requests.onNext(request);
      return true;
    } finally {
      lock.unlock();
    }
  }

  /** Whether a {@link #send} would go out without waiting. */
  public boolean isReady() {
    lock.lock();
    try {
      return !finished && !cancelled && !halfClosed && requests.isReady();
    } finally {
      lock.unlock();
    }
  }

  /** Half-closes the stream: no more audio; the gateway finishes the drive. Idempotent. */
  public void end() {
    lock.lock();
    try {
      if (!halfClosed && !finished && !cancelled) {
        requests.onCompleted();
      }
      halfClosed = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Makes the avatar silent now (barge-in); keep reading the events for how it ended.
   *
   * <p>While the audio is still being sent, it sends {@code DriveRequest.interrupt} and
   * half-closes: the gateway stops sending, drops the audio it still holds, and the stream ends
   * with {@code playback_finished} ({@code interrupted}, {@code played_ms}: what was heard) and
   * {@code completed} ({@code dropped_ms}); {@link #send} returns {@code false} from then on (a
   * send waiting for the stream returns at once). After {@link #end()} (the avatar playing the
   * drive's tail) it calls {@code StopDrive} with {@code STOP_MODE_INTERRUPT} for the task
   * instead; the events then end after {@code playback_finished}, without an error. Calling it
   * again, or after the drive ended, does nothing.
   *
   * @throws DriveException the StopDrive call failed (not NO_ACTIVE_DRIVE: the drive ended
   *     meanwhile).
   */
  public void interrupt() {
    lock.lock();
    try {
      if (interrupted || finished || cancelled) {
        return;
      }
      interrupted = true;
      changed.signalAll();
      if (!halfClosed) {
        halfClosed = true;
        requests.onNext(DriveRequest.newBuilder().setInterrupt(Interrupt.getDefaultInstance()).build());
        requests.onCompleted();
        return;
      }
      stoppedByUs = true;
    } finally {
      lock.unlock();
    }
    try {
      stopper.accept(config);
    } catch (DriveException e) {
      if (!e.is(Status.Code.NOT_FOUND, ErrorReason.NO_ACTIVE_DRIVE)) {
        throw e;
      }
    }
  }

  /**
   * Sends every chunk (with backpressure), then half-closes. Stops early, without half-closing,
   * when the drive ends or is cancelled.
   *
   * @return whether every chunk was sent and the stream half-closed.
   */
  public boolean sendAll(Iterable<byte[]> chunks) throws InterruptedException {
    return sendEach(chunks, this::send);
  }

  /**
   * Sends every input, audio and marks in order (with backpressure), then half-closes; like
   * {@link #sendAll}.
   *
   * @return whether every input was sent and the stream half-closed.
   */
  public boolean sendInputs(Iterable<? extends DriveInput> inputs) throws InterruptedException {
    return sendEach(inputs, this::send);
  }

  private interface Sender<T> {
    boolean send(T item) throws InterruptedException;
  }

  private <T> boolean sendEach(Iterable<? extends T> items, Sender<T> sender)
      throws InterruptedException {
    for (T item : items) {
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
      if (!sender.send(item)) {
        return false;
      }
    }
    if (Thread.currentThread().isInterrupted()) {
      return false;
    }
    end();
    return true;
  }

  /**
   * {@link #sendAll} on a daemon thread, so that this thread can read the events. Cancelling the
   * drive interrupts that thread (so an iterator that waits, as a live source does, should stop
   * when interrupted); an exception from the chunks cancels the drive with it as the cause.
   *
   * @return this drive.
   */
  public Drive sendAllInBackground(Iterable<byte[]> chunks) {
    return inBackground(() -> sendAll(chunks));
  }

  /**
   * {@link #sendInputs} on a daemon thread, like {@link #sendAllInBackground}: audio and marks.
   *
   * @return this drive.
   */
  public Drive sendInputsInBackground(Iterable<? extends DriveInput> inputs) {
    return inBackground(() -> sendInputs(inputs));
  }

  private interface Job {
    void run() throws InterruptedException;
  }

  private Drive inBackground(Job job) {
    Thread thread =
        new Thread(
            () -> {
              try {
                job.run();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              } catch (RuntimeException e) {
                cancel("the audio source failed: " + e, e);
              }
            },
            "dh-drive-writer");
    thread.setDaemon(true);
    lock.lock();
    try {
      if (writer != null) {
        throw new IllegalStateException("already sending in the background");
      }
      writer = thread;
    } finally {
      lock.unlock();
    }
    thread.start();
    return this;
  }

  /** Cancels the drive: the stream is reset at once and the gateway stops the avatar. */
  public void cancel() {
    cancel("cancelled by the client", null);
  }

  /**
   * Cancels the drive with a message (and cause) for the local status. Idempotent; does nothing
   * once the drive ended. The reading methods then throw CANCELLED.
   */
  public void cancel(String message, Throwable cause) {
    Thread background;
    lock.lock();
    try {
      if (!cancelled && !finished) {
        requests.cancel(message, cause);
      }
      cancelled = true;
      changed.signalAll();
      background = writer;
    } finally {
      lock.unlock();
    }
    if (background != null && background != Thread.currentThread()) {
      background.interrupt();
    }
  }

  /**
   * The next event, waiting for it.
   *
   * @return the event, or {@code null} once the drive ended successfully.
   * @throws DriveException the drive failed (CANCELLED after {@link #cancel()}).
   */
  public DriveEvent next() throws InterruptedException {
    if (endSeen) {
      return terminal();
    }
    return deliver(events.take());
  }

  /**
   * The next event, waiting for it at most {@code timeout}.
   *
   * @return the event, or {@code null} once the drive ended successfully.
   * @throws TimeoutException no event came within {@code timeout}.
   * @throws DriveException the drive failed.
   */
  public DriveEvent next(Duration timeout) throws InterruptedException, TimeoutException {
    if (endSeen) {
      return terminal();
    }
    Object item = events.poll(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
    if (item == null) {
      throw new TimeoutException("no drive event within " + timeout);
    }
    return deliver(item);
  }

  /**
   * Reads the events up to the end of a successful drive.
   *
   * @return the final {@code completed} accounting.
   * @throws DriveException the drive failed.
   */
  public Completed awaitCompleted() throws InterruptedException {
    Completed completed = null;
    for (DriveEvent event = next(); event != null; event = next()) {
      if (event.hasCompleted()) {
        completed = event.getCompleted();
      }
    }
    if (completed == null) {
      throw new DriveException(
          Status.Code.INTERNAL, "the stream ended without a completed event", "", "", null, null);
    }
    return completed;
  }

  /**
   * The gateway's {@code playback_finished} of this drive once it came (before {@code completed},
   * or before the error of a drive cut short): how much of the audio the avatar played ({@code
   * played_ms}), and whether it was {@code interrupted}. Empty before, and for a drive that never
   * played.
   */
  public Optional<PlaybackFinished> playbackFinished() {
    return Optional.ofNullable(playbackFinished);
  }

  /** Whether the gateway ended the stream (successfully or not) or it was cancelled. */
  public boolean isDone() {
    lock.lock();
    try {
      return finished || cancelled;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The events, for a for-each loop, until the drive ends. {@code next()} of the iterator throws
   * {@link DriveException} when the drive fails; an interrupt cancels the drive and throws
   * CANCELLED (the interrupt flag stays set).
   */
  @Override
  public Iterator<DriveEvent> iterator() {
    return new Iterator<>() {
      private DriveEvent ahead;

      @Override
      public boolean hasNext() {
        if (ahead == null) {
          try {
            ahead = Drive.this.next();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cancel("interrupted", e);
            throw new DriveException(Status.Code.CANCELLED, "interrupted", "", "", null, e);
          }
        }
        return ahead != null;
      }

      @Override
      public DriveEvent next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        DriveEvent event = ahead;
        ahead = null;
        return event;
      }
    };
  }

  /** Cancels the drive unless it already ended; stops a background sender. */
  @Override
  public void close() {
    cancel("closed by the client", null);
  }

  private DriveEvent deliver(Object item) {
    if (item == END) {
      endSeen = true;
      return terminal();
    }
    return (DriveEvent) item;
  }

  private DriveEvent terminal() {
    Throwable error = failure;
    if (error != null) {
      DriveException failed = DriveException.fromThrowable(error);
      if (stoppedByUs && failed.is(Status.Code.ABORTED, ErrorReason.STOPPED_BY_REQUEST)) {
        return null; // our own interrupt() went through StopDrive: the end we asked for
      }
      throw failed;
    }
    return null;
  }

  private void finish(Throwable error) {
    lock.lock();
    try {
      finished = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    failure = error;
    events.add(END);
  }

  private void signal() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private final class Observer implements ClientResponseObserver<DriveRequest, DriveEvent> {
    private ClientCallStreamObserver<DriveRequest> requests;

    @Override
    public void beforeStart(ClientCallStreamObserver<DriveRequest> requestStream) {
      this.requests = requestStream;
      requestStream.setOnReadyHandler(Drive.this::signal);
    }

    @Override
    public void onNext(DriveEvent event) {
      if (event.hasPlaybackFinished()) {
        playbackFinished = event.getPlaybackFinished();
      }
      events.add(event);
    }

    @Override
    public void onError(Throwable error) {
      finish(error);
    }

    @Override
    public void onCompleted() {
      finish(null);
    }
  }
}
