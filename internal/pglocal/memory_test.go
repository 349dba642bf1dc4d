package pglocal

import "testing"

func TestSharedBuffersFor(t *testing.T) {
	const gb = 1 << 30
	for _, c := range []struct {
		bytes int64
		want  string
	}{
		{0, "128MB"},         // unknown: PostgreSQL's default
		{256 << 20, "128MB"}, // never below PostgreSQL's default
		{1 * gb, "256MB"},    // a quarter
		{24 * gb, "6144MB"},  // this project's build machines
		{64 * gb, "8192MB"},  // at most 8GB
	} {
		if got := sharedBuffersFor(c.bytes); got != c.want {
			t.Errorf("sharedBuffersFor(%d) = %s, want %s", c.bytes, got, c.want)
		}
	}
	if memoryLimit() <= 0 {
		t.Error("the memory this process may use could not be read")
	}
}
