// annals/event_iterator.h: the cursor returned by EventStore reads. Read
// annals/event_store.h first.
#ifndef ANNALS_EVENT_ITERATOR_H_
#define ANNALS_EVENT_ITERATOR_H_

#include "absl/status/status.h"
#include "annals/event.h"
#include "annals/export.h"

namespace annals {

// A cursor over the events of one read, in the read's order. Holds one event
// in memory at a time, whatever the read's size. Sees the store as of the
// moment the read began (whole commits only).
//
//   for (; it->Valid(); it->Next()) Use(it->record());
//   if (!it->status().ok()) ...
//
// Single-thread: use from one thread at a time. May outlive EventStore::Close
// (it keeps the storage open until destroyed).
class ANNALS_EXPORT EventIterator {
 public:
  virtual ~EventIterator() = default;
  EventIterator(const EventIterator&) = delete;
  EventIterator& operator=(const EventIterator&) = delete;

  // True while record() holds an event. False at the end or on an error.
  virtual bool Valid() const = 0;
  // REQUIRES: Valid().
  virtual void Next() = 0;
  // The current event. REQUIRES: Valid(). Changes on Next().
  virtual const EventRecord& record() const = 0;
  // OK unless the read failed (DataLoss for a corrupt event).
  virtual absl::Status status() const = 0;
  // How far the read has looked, whether or not events matched: forward,
  // every position at or before it was returned or filtered out (backward:
  // at or after it). At the end of a forward read it is the head the read
  // saw, so a consumer whose filter rarely matches still advances: continue
  // with `from = reached() + 1`. Position(0) before anything was looked at.
  virtual Position reached() const = 0;

 protected:
  EventIterator() = default;
};

}  // namespace annals

#endif  // ANNALS_EVENT_ITERATOR_H_
