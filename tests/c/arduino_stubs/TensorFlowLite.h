/* TensorFlowLite.h - host stand-in for the Arduino_TensorFlowLite library's main header. */
