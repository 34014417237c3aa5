/**
 * @familiar/camera — frames in, as JPEG bytes.
 *
 * Every camera is a {@link FrameSource} (push-based: `frame` and `status` events, start()/stop()),
 * made from a config entry by {@link createFrameSource}: `replay` (image folder, or a video through
 * ffmpeg), `ffmpeg` (V4L2 MJPEG passthrough, RTSP/HTTP, video files; supervised child process with
 * stall detection and back-off restarts), `node-webcam` (fswebcam stills), `gstreamer-csi` (Jetson).
 * Consumers read through a {@link FrameMailbox}: fps cap, latest frame wins, drop counters, and
 * `take()` / `for await (const f of mailbox.frames())` for pull-style loops. Decoding is left to the
 * pipeline (@familiar/image decodeImage), so frames that are dropped cost nothing.
 */
export * from './source.ts';
export * from './mailbox.ts';
export * from './mjpeg-splitter.ts';
export * from './tools.ts';
export * from './process-source.ts';
export * from './ffmpeg.ts';
export * from './gstreamer.ts';
export * from './replay.ts';
export * from './node-webcam.ts';
export * from './factory.ts';
