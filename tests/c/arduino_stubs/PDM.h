/* PDM.h - host stand-in for the Arduino PDM library: bytes come from the simulation. */
#ifndef KWS_STUB_PDM_H
#define KWS_STUB_PDM_H

class PDMClass {
 public:
  void onReceive(void (*callback)(void)) { callback_ = callback; }
  void setBufferSize(int bytes) { buffer_bytes_ = bytes; }
  void setGain(int) {}
  int begin(int channels, long rate) { return channels == 1 && rate == 16000; }
  int available();                    /* BYTES ready (the simulation decides) */
  int read(void *buffer, int bytes);  /* copies BYTES, returns how many */
  void (*callback_)(void) = nullptr;
  int buffer_bytes_ = 512;
};
extern PDMClass PDM;

#endif
