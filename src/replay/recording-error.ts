/** A recording (or a part of one) that cannot be read as one: the message says why. */
export class RecordingFormatError extends Error {}
