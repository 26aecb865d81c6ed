package io.dhgateway.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * DriveGateway drives cloud digital humans with streamed audio.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class DriveGatewayGrpc {

  private DriveGatewayGrpc() {}

  public static final java.lang.String SERVICE_NAME = "dhgateway.v1.DriveGateway";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.DriveRequest,
      io.dhgateway.v1.DriveEvent> getDriveMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Drive",
      requestType = io.dhgateway.v1.DriveRequest.class,
      responseType = io.dhgateway.v1.DriveEvent.class,
      methodType = io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.DriveRequest,
      io.dhgateway.v1.DriveEvent> getDriveMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.DriveRequest, io.dhgateway.v1.DriveEvent> getDriveMethod;
    if ((getDriveMethod = DriveGatewayGrpc.getDriveMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getDriveMethod = DriveGatewayGrpc.getDriveMethod) == null) {
          DriveGatewayGrpc.getDriveMethod = getDriveMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.DriveRequest, io.dhgateway.v1.DriveEvent>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Drive"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.DriveRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.DriveEvent.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("Drive"))
              .build();
        }
      }
    }
    return getDriveMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.StopDriveRequest,
      io.dhgateway.v1.StopDriveResponse> getStopDriveMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StopDrive",
      requestType = io.dhgateway.v1.StopDriveRequest.class,
      responseType = io.dhgateway.v1.StopDriveResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.StopDriveRequest,
      io.dhgateway.v1.StopDriveResponse> getStopDriveMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.StopDriveRequest, io.dhgateway.v1.StopDriveResponse> getStopDriveMethod;
    if ((getStopDriveMethod = DriveGatewayGrpc.getStopDriveMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getStopDriveMethod = DriveGatewayGrpc.getStopDriveMethod) == null) {
          DriveGatewayGrpc.getStopDriveMethod = getStopDriveMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.StopDriveRequest, io.dhgateway.v1.StopDriveResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StopDrive"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.StopDriveRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.StopDriveResponse.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("StopDrive"))
              .build();
        }
      }
    }
    return getStopDriveMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.ListDrivesRequest,
      io.dhgateway.v1.ListDrivesResponse> getListDrivesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListDrives",
      requestType = io.dhgateway.v1.ListDrivesRequest.class,
      responseType = io.dhgateway.v1.ListDrivesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.ListDrivesRequest,
      io.dhgateway.v1.ListDrivesResponse> getListDrivesMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.ListDrivesRequest, io.dhgateway.v1.ListDrivesResponse> getListDrivesMethod;
    if ((getListDrivesMethod = DriveGatewayGrpc.getListDrivesMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getListDrivesMethod = DriveGatewayGrpc.getListDrivesMethod) == null) {
          DriveGatewayGrpc.getListDrivesMethod = getListDrivesMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.ListDrivesRequest, io.dhgateway.v1.ListDrivesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListDrives"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.ListDrivesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.ListDrivesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("ListDrives"))
              .build();
        }
      }
    }
    return getListDrivesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.GetCapabilitiesRequest,
      io.dhgateway.v1.Capabilities> getGetCapabilitiesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetCapabilities",
      requestType = io.dhgateway.v1.GetCapabilitiesRequest.class,
      responseType = io.dhgateway.v1.Capabilities.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.GetCapabilitiesRequest,
      io.dhgateway.v1.Capabilities> getGetCapabilitiesMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.GetCapabilitiesRequest, io.dhgateway.v1.Capabilities> getGetCapabilitiesMethod;
    if ((getGetCapabilitiesMethod = DriveGatewayGrpc.getGetCapabilitiesMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getGetCapabilitiesMethod = DriveGatewayGrpc.getGetCapabilitiesMethod) == null) {
          DriveGatewayGrpc.getGetCapabilitiesMethod = getGetCapabilitiesMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.GetCapabilitiesRequest, io.dhgateway.v1.Capabilities>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetCapabilities"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.GetCapabilitiesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.Capabilities.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("GetCapabilities"))
              .build();
        }
      }
    }
    return getGetCapabilitiesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.GetTaskRequest,
      io.dhgateway.v1.TaskInfo> getGetTaskMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetTask",
      requestType = io.dhgateway.v1.GetTaskRequest.class,
      responseType = io.dhgateway.v1.TaskInfo.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.GetTaskRequest,
      io.dhgateway.v1.TaskInfo> getGetTaskMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.GetTaskRequest, io.dhgateway.v1.TaskInfo> getGetTaskMethod;
    if ((getGetTaskMethod = DriveGatewayGrpc.getGetTaskMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getGetTaskMethod = DriveGatewayGrpc.getGetTaskMethod) == null) {
          DriveGatewayGrpc.getGetTaskMethod = getGetTaskMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.GetTaskRequest, io.dhgateway.v1.TaskInfo>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetTask"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.GetTaskRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.TaskInfo.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("GetTask"))
              .build();
        }
      }
    }
    return getGetTaskMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.dhgateway.v1.WatchTaskRequest,
      io.dhgateway.v1.TaskInfo> getWatchTaskMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchTask",
      requestType = io.dhgateway.v1.WatchTaskRequest.class,
      responseType = io.dhgateway.v1.TaskInfo.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<io.dhgateway.v1.WatchTaskRequest,
      io.dhgateway.v1.TaskInfo> getWatchTaskMethod() {
    io.grpc.MethodDescriptor<io.dhgateway.v1.WatchTaskRequest, io.dhgateway.v1.TaskInfo> getWatchTaskMethod;
    if ((getWatchTaskMethod = DriveGatewayGrpc.getWatchTaskMethod) == null) {
      synchronized (DriveGatewayGrpc.class) {
        if ((getWatchTaskMethod = DriveGatewayGrpc.getWatchTaskMethod) == null) {
          DriveGatewayGrpc.getWatchTaskMethod = getWatchTaskMethod =
              io.grpc.MethodDescriptor.<io.dhgateway.v1.WatchTaskRequest, io.dhgateway.v1.TaskInfo>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchTask"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.WatchTaskRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.dhgateway.v1.TaskInfo.getDefaultInstance()))
              .setSchemaDescriptor(new DriveGatewayMethodDescriptorSupplier("WatchTask"))
              .build();
        }
      }
    }
    return getWatchTaskMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static DriveGatewayStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<DriveGatewayStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<DriveGatewayStub>() {
        @java.lang.Override
        public DriveGatewayStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new DriveGatewayStub(channel, callOptions);
        }
      };
    return DriveGatewayStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static DriveGatewayBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<DriveGatewayBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<DriveGatewayBlockingV2Stub>() {
        @java.lang.Override
        public DriveGatewayBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new DriveGatewayBlockingV2Stub(channel, callOptions);
        }
      };
    return DriveGatewayBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static DriveGatewayBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<DriveGatewayBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<DriveGatewayBlockingStub>() {
        @java.lang.Override
        public DriveGatewayBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new DriveGatewayBlockingStub(channel, callOptions);
        }
      };
    return DriveGatewayBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static DriveGatewayFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<DriveGatewayFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<DriveGatewayFutureStub>() {
        @java.lang.Override
        public DriveGatewayFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new DriveGatewayFutureStub(channel, callOptions);
        }
      };
    return DriveGatewayFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Drive streams one utterance: a config message, audio chunks, then half-close.
     * </pre>
     */
    default io.grpc.stub.StreamObserver<io.dhgateway.v1.DriveRequest> drive(
        io.grpc.stub.StreamObserver<io.dhgateway.v1.DriveEvent> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getDriveMethod(), responseObserver);
    }

    /**
     * <pre>
     * StopDrive ends the active drive of a task (for barge-in), on whichever replica it
     * runs, and answers once that drive's Stop went out; its stream ends ABORTED /
     * STOPPED_BY_REQUEST, after its PlaybackFinished. `mode` says whether the avatar first
     * plays what it was sent (FINISH) or goes silent now (INTERRUPT).
     * </pre>
     */
    default void stopDrive(io.dhgateway.v1.StopDriveRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.StopDriveResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStopDriveMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListDrives lists the active and queued drives of the gateway: of every replica sharing its
     * Redis (each replica publishes its drives there; a replica that died drops out within its
     * lease's TTL), else of this process. In pages, ordered by task id (then a key that is
     * stable for a drive's life); INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative page_size,
     * BAD_PAGE_TOKEN for a page_token this call did not hand out.
     * </pre>
     */
    default void listDrives(io.dhgateway.v1.ListDrivesRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.ListDrivesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListDrivesMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetCapabilities says which audio formats, rates and policies this gateway accepts.
     * </pre>
     */
    default void getCapabilities(io.dhgateway.v1.GetCapabilitiesRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.Capabilities> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetCapabilitiesMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetTask says how a vendor task is: its status (asked of the vendor's
     * GetDigitalHumanStreamTaskStatus through the gateway's request limiter, cached, and
     * updated by the vendor's callbacks), whether the avatar speaks now and in which drive, and
     * how long until MaxIdleTime ends the task if nothing drives it. Answers for every replica
     * sharing the gateway's Redis. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor
     * does not know.
     * </pre>
     */
    default void getTask(io.dhgateway.v1.GetTaskRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetTaskMethod(), responseObserver);
    }

    /**
     * <pre>
     * WatchTask sends the task's TaskInfo at once and again at each change (status, speaking,
     * the active drive, the queue), until the task has ended (the last message says
     * TASK_STATUS_STOPPED or TASK_STATUS_INIT_FAILED; the stream then ends OK) or the client
     * cancels. The idle countdown is not a change: a client computes it from
     * `idle_deadline`.
     * </pre>
     */
    default void watchTask(io.dhgateway.v1.WatchTaskRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchTaskMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service DriveGateway.
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public static abstract class DriveGatewayImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return DriveGatewayGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service DriveGateway.
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public static final class DriveGatewayStub
      extends io.grpc.stub.AbstractAsyncStub<DriveGatewayStub> {
    private DriveGatewayStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected DriveGatewayStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new DriveGatewayStub(channel, callOptions);
    }

    /**
     * <pre>
     * Drive streams one utterance: a config message, audio chunks, then half-close.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<io.dhgateway.v1.DriveRequest> drive(
        io.grpc.stub.StreamObserver<io.dhgateway.v1.DriveEvent> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncBidiStreamingCall(
          getChannel().newCall(getDriveMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * StopDrive ends the active drive of a task (for barge-in), on whichever replica it
     * runs, and answers once that drive's Stop went out; its stream ends ABORTED /
     * STOPPED_BY_REQUEST, after its PlaybackFinished. `mode` says whether the avatar first
     * plays what it was sent (FINISH) or goes silent now (INTERRUPT).
     * </pre>
     */
    public void stopDrive(io.dhgateway.v1.StopDriveRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.StopDriveResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getStopDriveMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListDrives lists the active and queued drives of the gateway: of every replica sharing its
     * Redis (each replica publishes its drives there; a replica that died drops out within its
     * lease's TTL), else of this process. In pages, ordered by task id (then a key that is
     * stable for a drive's life); INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative page_size,
     * BAD_PAGE_TOKEN for a page_token this call did not hand out.
     * </pre>
     */
    public void listDrives(io.dhgateway.v1.ListDrivesRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.ListDrivesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListDrivesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetCapabilities says which audio formats, rates and policies this gateway accepts.
     * </pre>
     */
    public void getCapabilities(io.dhgateway.v1.GetCapabilitiesRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.Capabilities> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetCapabilitiesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetTask says how a vendor task is: its status (asked of the vendor's
     * GetDigitalHumanStreamTaskStatus through the gateway's request limiter, cached, and
     * updated by the vendor's callbacks), whether the avatar speaks now and in which drive, and
     * how long until MaxIdleTime ends the task if nothing drives it. Answers for every replica
     * sharing the gateway's Redis. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor
     * does not know.
     * </pre>
     */
    public void getTask(io.dhgateway.v1.GetTaskRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetTaskMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * WatchTask sends the task's TaskInfo at once and again at each change (status, speaking,
     * the active drive, the queue), until the task has ended (the last message says
     * TASK_STATUS_STOPPED or TASK_STATUS_INIT_FAILED; the stream then ends OK) or the client
     * cancels. The idle countdown is not a change: a client computes it from
     * `idle_deadline`.
     * </pre>
     */
    public void watchTask(io.dhgateway.v1.WatchTaskRequest request,
        io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchTaskMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service DriveGateway.
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public static final class DriveGatewayBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<DriveGatewayBlockingV2Stub> {
    private DriveGatewayBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected DriveGatewayBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new DriveGatewayBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Drive streams one utterance: a config message, audio chunks, then half-close.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<io.dhgateway.v1.DriveRequest, io.dhgateway.v1.DriveEvent>
        drive() {
      return io.grpc.stub.ClientCalls.blockingBidiStreamingCall(
          getChannel(), getDriveMethod(), getCallOptions());
    }

    /**
     * <pre>
     * StopDrive ends the active drive of a task (for barge-in), on whichever replica it
     * runs, and answers once that drive's Stop went out; its stream ends ABORTED /
     * STOPPED_BY_REQUEST, after its PlaybackFinished. `mode` says whether the avatar first
     * plays what it was sent (FINISH) or goes silent now (INTERRUPT).
     * </pre>
     */
    public io.dhgateway.v1.StopDriveResponse stopDrive(io.dhgateway.v1.StopDriveRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getStopDriveMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListDrives lists the active and queued drives of the gateway: of every replica sharing its
     * Redis (each replica publishes its drives there; a replica that died drops out within its
     * lease's TTL), else of this process. In pages, ordered by task id (then a key that is
     * stable for a drive's life); INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative page_size,
     * BAD_PAGE_TOKEN for a page_token this call did not hand out.
     * </pre>
     */
    public io.dhgateway.v1.ListDrivesResponse listDrives(io.dhgateway.v1.ListDrivesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListDrivesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetCapabilities says which audio formats, rates and policies this gateway accepts.
     * </pre>
     */
    public io.dhgateway.v1.Capabilities getCapabilities(io.dhgateway.v1.GetCapabilitiesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetCapabilitiesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetTask says how a vendor task is: its status (asked of the vendor's
     * GetDigitalHumanStreamTaskStatus through the gateway's request limiter, cached, and
     * updated by the vendor's callbacks), whether the avatar speaks now and in which drive, and
     * how long until MaxIdleTime ends the task if nothing drives it. Answers for every replica
     * sharing the gateway's Redis. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor
     * does not know.
     * </pre>
     */
    public io.dhgateway.v1.TaskInfo getTask(io.dhgateway.v1.GetTaskRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetTaskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * WatchTask sends the task's TaskInfo at once and again at each change (status, speaking,
     * the active drive, the queue), until the task has ended (the last message says
     * TASK_STATUS_STOPPED or TASK_STATUS_INIT_FAILED; the stream then ends OK) or the client
     * cancels. The idle countdown is not a change: a client computes it from
     * `idle_deadline`.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, io.dhgateway.v1.TaskInfo>
        watchTask(io.dhgateway.v1.WatchTaskRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getWatchTaskMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service DriveGateway.
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public static final class DriveGatewayBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<DriveGatewayBlockingStub> {
    private DriveGatewayBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected DriveGatewayBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new DriveGatewayBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * StopDrive ends the active drive of a task (for barge-in), on whichever replica it
     * runs, and answers once that drive's Stop went out; its stream ends ABORTED /
     * STOPPED_BY_REQUEST, after its PlaybackFinished. `mode` says whether the avatar first
     * plays what it was sent (FINISH) or goes silent now (INTERRUPT).
     * </pre>
     */
    public io.dhgateway.v1.StopDriveResponse stopDrive(io.dhgateway.v1.StopDriveRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getStopDriveMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListDrives lists the active and queued drives of the gateway: of every replica sharing its
     * Redis (each replica publishes its drives there; a replica that died drops out within its
     * lease's TTL), else of this process. In pages, ordered by task id (then a key that is
     * stable for a drive's life); INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative page_size,
     * BAD_PAGE_TOKEN for a page_token this call did not hand out.
     * </pre>
     */
    public io.dhgateway.v1.ListDrivesResponse listDrives(io.dhgateway.v1.ListDrivesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListDrivesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetCapabilities says which audio formats, rates and policies this gateway accepts.
     * </pre>
     */
    public io.dhgateway.v1.Capabilities getCapabilities(io.dhgateway.v1.GetCapabilitiesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetCapabilitiesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetTask says how a vendor task is: its status (asked of the vendor's
     * GetDigitalHumanStreamTaskStatus through the gateway's request limiter, cached, and
     * updated by the vendor's callbacks), whether the avatar speaks now and in which drive, and
     * how long until MaxIdleTime ends the task if nothing drives it. Answers for every replica
     * sharing the gateway's Redis. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor
     * does not know.
     * </pre>
     */
    public io.dhgateway.v1.TaskInfo getTask(io.dhgateway.v1.GetTaskRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetTaskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * WatchTask sends the task's TaskInfo at once and again at each change (status, speaking,
     * the active drive, the queue), until the task has ended (the last message says
     * TASK_STATUS_STOPPED or TASK_STATUS_INIT_FAILED; the stream then ends OK) or the client
     * cancels. The idle countdown is not a change: a client computes it from
     * `idle_deadline`.
     * </pre>
     */
    public java.util.Iterator<io.dhgateway.v1.TaskInfo> watchTask(
        io.dhgateway.v1.WatchTaskRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchTaskMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service DriveGateway.
   * <pre>
   * DriveGateway drives cloud digital humans with streamed audio.
   * </pre>
   */
  public static final class DriveGatewayFutureStub
      extends io.grpc.stub.AbstractFutureStub<DriveGatewayFutureStub> {
    private DriveGatewayFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected DriveGatewayFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new DriveGatewayFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * StopDrive ends the active drive of a task (for barge-in), on whichever replica it
     * runs, and answers once that drive's Stop went out; its stream ends ABORTED /
     * STOPPED_BY_REQUEST, after its PlaybackFinished. `mode` says whether the avatar first
     * plays what it was sent (FINISH) or goes silent now (INTERRUPT).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.dhgateway.v1.StopDriveResponse> stopDrive(
        io.dhgateway.v1.StopDriveRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getStopDriveMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListDrives lists the active and queued drives of the gateway: of every replica sharing its
     * Redis (each replica publishes its drives there; a replica that died drops out within its
     * lease's TTL), else of this process. In pages, ordered by task id (then a key that is
     * stable for a drive's life); INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative page_size,
     * BAD_PAGE_TOKEN for a page_token this call did not hand out.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.dhgateway.v1.ListDrivesResponse> listDrives(
        io.dhgateway.v1.ListDrivesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListDrivesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetCapabilities says which audio formats, rates and policies this gateway accepts.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.dhgateway.v1.Capabilities> getCapabilities(
        io.dhgateway.v1.GetCapabilitiesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetCapabilitiesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetTask says how a vendor task is: its status (asked of the vendor's
     * GetDigitalHumanStreamTaskStatus through the gateway's request limiter, cached, and
     * updated by the vendor's callbacks), whether the avatar speaks now and in which drive, and
     * how long until MaxIdleTime ends the task if nothing drives it. Answers for every replica
     * sharing the gateway's Redis. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor
     * does not know.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.dhgateway.v1.TaskInfo> getTask(
        io.dhgateway.v1.GetTaskRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetTaskMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_STOP_DRIVE = 0;
  private static final int METHODID_LIST_DRIVES = 1;
  private static final int METHODID_GET_CAPABILITIES = 2;
  private static final int METHODID_GET_TASK = 3;
  private static final int METHODID_WATCH_TASK = 4;
  private static final int METHODID_DRIVE = 5;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_STOP_DRIVE:
          serviceImpl.stopDrive((io.dhgateway.v1.StopDriveRequest) request,
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.StopDriveResponse>) responseObserver);
          break;
        case METHODID_LIST_DRIVES:
          serviceImpl.listDrives((io.dhgateway.v1.ListDrivesRequest) request,
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.ListDrivesResponse>) responseObserver);
          break;
        case METHODID_GET_CAPABILITIES:
          serviceImpl.getCapabilities((io.dhgateway.v1.GetCapabilitiesRequest) request,
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.Capabilities>) responseObserver);
          break;
        case METHODID_GET_TASK:
          serviceImpl.getTask((io.dhgateway.v1.GetTaskRequest) request,
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo>) responseObserver);
          break;
        case METHODID_WATCH_TASK:
          serviceImpl.watchTask((io.dhgateway.v1.WatchTaskRequest) request,
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.TaskInfo>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_DRIVE:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.drive(
              (io.grpc.stub.StreamObserver<io.dhgateway.v1.DriveEvent>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getDriveMethod(),
          io.grpc.stub.ServerCalls.asyncBidiStreamingCall(
            new MethodHandlers<
              io.dhgateway.v1.DriveRequest,
              io.dhgateway.v1.DriveEvent>(
                service, METHODID_DRIVE)))
        .addMethod(
          getStopDriveMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.dhgateway.v1.StopDriveRequest,
              io.dhgateway.v1.StopDriveResponse>(
                service, METHODID_STOP_DRIVE)))
        .addMethod(
          getListDrivesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.dhgateway.v1.ListDrivesRequest,
              io.dhgateway.v1.ListDrivesResponse>(
                service, METHODID_LIST_DRIVES)))
        .addMethod(
          getGetCapabilitiesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.dhgateway.v1.GetCapabilitiesRequest,
              io.dhgateway.v1.Capabilities>(
                service, METHODID_GET_CAPABILITIES)))
        .addMethod(
          getGetTaskMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.dhgateway.v1.GetTaskRequest,
              io.dhgateway.v1.TaskInfo>(
                service, METHODID_GET_TASK)))
        .addMethod(
          getWatchTaskMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              io.dhgateway.v1.WatchTaskRequest,
              io.dhgateway.v1.TaskInfo>(
                service, METHODID_WATCH_TASK)))
        .build();
  }

  private static abstract class DriveGatewayBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    DriveGatewayBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.dhgateway.v1.GatewayProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("DriveGateway");
    }
  }

  private static final class DriveGatewayFileDescriptorSupplier
      extends DriveGatewayBaseDescriptorSupplier {
    DriveGatewayFileDescriptorSupplier() {}
  }

  private static final class DriveGatewayMethodDescriptorSupplier
      extends DriveGatewayBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    DriveGatewayMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (DriveGatewayGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new DriveGatewayFileDescriptorSupplier())
              .addMethod(getDriveMethod())
              .addMethod(getStopDriveMethod())
              .addMethod(getListDrivesMethod())
              .addMethod(getGetCapabilitiesMethod())
              .addMethod(getGetTaskMethod())
              .addMethod(getWatchTaskMethod())
              .build();
        }
      }
    }
    return result;
  }
}
