// node-webcam 0.8.2 ships no types; this covers the part the camera package uses.
declare module 'node-webcam' {
  interface WebcamOptions {
    width?: number;
    height?: number;
    quality?: number;
    delay?: number;
    skip?: number | false;
    saveShots?: boolean;
    output?: 'jpeg' | 'png' | 'bmp';
    device?: string | false;
    callbackReturn?: 'location' | 'buffer' | 'base64';
    verbose?: boolean;
    topBanner?: boolean;
    bottomBanner?: boolean;
  }
  interface Webcam {
    opts: WebcamOptions;
    capture(location: string | null, callback: (err: Error | null, data?: unknown) => void): void;
    generateSh(location: string | null): string;
  }
  const NodeWebcam: {
    create(options: WebcamOptions): Webcam;
    FSWebcam: new (options: WebcamOptions) => Webcam;
  };
  export default NodeWebcam;
}
