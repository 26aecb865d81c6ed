package io.dhgateway.client;

import io.dhgateway.v1.TaskInfo;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.util.Iterator;

/**
 * An open {@code WatchTask} call: iterate it for the task's {@code TaskInfo}, now and at each
 * change; the iteration ends once the task has ended (the last one says {@code
 * TASK_STATUS_STOPPED} or {@code TASK_STATUS_INIT_FAILED}). {@link #close()} cancels the watch.
 * The iterator's methods throw {@link DriveException} when the watch fails (e.g. NOT_FOUND /
 * UPSTREAM_TASK_NOT_FOUND).
 */
public final class TaskWatch implements Iterable<TaskInfo>, Iterator<TaskInfo>, AutoCloseable {
  private final Iterator<TaskInfo> infos;
  private final Context.CancellableContext context;

  TaskWatch(Iterator<TaskInfo> infos, Context.CancellableContext context) {
    this.infos = infos;
    this.context = context;
  }

  @Override
  public boolean hasNext() {
    try {
      return infos.hasNext();
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  @Override
  public TaskInfo next() {
    try {
      return infos.next();
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  /** This watch itself: it is iterated once. */
  @Override
  public Iterator<TaskInfo> iterator() {
    return this;
  }

  /** Cancels the watch (idempotent). */
  @Override
  public void close() {
    context.cancel(null);
  }
}
