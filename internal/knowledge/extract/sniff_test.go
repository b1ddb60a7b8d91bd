package extract

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		// Stored entries: deflating a thousand of them would make tests slow.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniffDecidesTheKindFromTheContent(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	tests := []struct {
		name        string
		data        []byte
		filename    string
		contentType string
		want        Kind
		wantErr     error
	}{
		{"pdf bytes named .txt are pdf", MinimalPDF("Hello"), "notes.txt", "text/plain", KindPDF, nil},
		{"html named .pdf is html", []byte("<!DOCTYPE html><html><body><p>Hi</p></body></html>"), "report.pdf", "application/pdf", KindHTML, nil},
		{"html after a bom and a comment", []byte("\ufeff<!-- saved page -->\n  <html lang=en><p>x"), "", "", KindHTML, nil},
		{"a bare body tag is html", []byte("<body>text</body>"), "a.txt", "", KindHTML, nil},
		{"a fragment dense with tags is html", []byte("<h1>Title</h1>\n<p>One <a href='x'>link</a>.</p>\n<ul><li>a</li><li>b</li></ul>"), "frag.md", "", KindHTML, nil},
		{"markdown with a few tags stays markdown", []byte("# Guide\n\nSome text with a <br> line break and more words here to read.\n\n" + string(bytes.Repeat([]byte("Plain sentence of the guide. "), 20))), "guide.md", "", KindMarkdown, nil},
		{"an html-looking word is not html", []byte("<htmlish> is not a tag"), "", "", KindText, nil},
		{"plain text", []byte("Just some notes.\n"), "notes.txt", "text/plain", KindText, nil},
		{"md extension chooses markdown", []byte("Just some notes.\n"), "README.md", "", KindMarkdown, nil},
		{"markdown extension in capitals", []byte("notes"), "README.MARKDOWN", "", KindMarkdown, nil},
		{"markdown content type chooses markdown", []byte("notes"), "upload", "text/markdown; charset=utf-8", KindMarkdown, nil},
		{"text with a bom", []byte("\ufeffhello"), "", "", KindText, nil},
		{"docx", MinimalDOCX("T", DocxParagraph{Text: "x"}), "file.bin", "", KindDOCX, nil},
		{"png is unsupported", png, "image.txt", "", "", ErrUnsupported},
		{"nul bytes are unsupported", []byte("abc\x00def"), "a.txt", "", "", ErrUnsupported},
		{"invalid utf-8 is unsupported", []byte("caf\xe9 au lait"), "a.txt", "", "", ErrUnsupported},
		{"a zip without word/document.xml is unsupported", zipOf(t, map[string]string{"content.xml": "<x/>"}), "book.docx", "", "", ErrUnsupported},
		{"a damaged zip is malformed", []byte("PK\x03\x04 truncated"), "a.docx", "", "", ErrMalformed},
		{"an empty file is malformed", nil, "a.txt", "", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Sniff(tt.data, tt.filename, tt.contentType)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Sniff() = %q, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Sniff() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSniffRefusesArchivesWithTooManyEntries(t *testing.T) {
	t.Parallel()
	files := map[string]string{"word/document.xml": "<w:document/>"}
	for i := range maxZipEntries + 1 {
		files[fmt.Sprintf("f%d.xml", i)] = ""
	}
	_, err := Sniff(zipOf(t, files), "a.docx", "")
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Sniff() error = %v, want ErrUnsupported", err)
	}
}
