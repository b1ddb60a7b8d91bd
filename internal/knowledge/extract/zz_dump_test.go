package extract

import (
	"fmt"
	"os"
	"testing"
)

func TestZZDump(t *testing.T) {
	path := os.Getenv("DUMP")
	if path == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(path)
	kind, err := Sniff(data, path, "")
	fmt.Println("kind", kind, err)
	doc, err := Extract(kind, data)
	fmt.Printf("title %q err %v\n", doc.Title, err)
	for _, b := range doc.Blocks {
		fmt.Printf("%s%d: %s\n", b.Kind, b.Level, b.Text)
	}
}
