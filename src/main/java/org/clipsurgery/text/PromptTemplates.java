package org.clipsurgery.text;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Prompt templates for the prompt ensemble: each label is put into every template, each prompt
 * embedded and L2-normalised, the mean normalised again.
 *
 * <p>{@link #defaults()} are the 85 templates of CLIP Surgery's
 * {@code encode_text_with_prompt_ensemble} (xmed-lab/CLIP_Surgery, clip/clip.py), in its order,
 * which matters only for floating-point summation order. A template holds the label where it has
 * {@code {}}, as in Python's {@code str.format}: {@code {0}} is the same placeholder and
 * <code>&#123;&#123;</code> / <code>&#125;&#125;</code> are literal braces.
 *
 * <pre>{@code
 * List<String> prompts = PromptTemplates.defaults().stream()
 *         .map(t -> PromptTemplates.apply(t, "dog")).toList();   // "a bad photo of a dog.", ...
 * }</pre>
 */
public final class PromptTemplates {
    private PromptTemplates() {}

    /** Number of default templates. */
    public static final int DEFAULT_COUNT = 85;
    private static final String DEFAULTS_RESOURCE = "prompt-templates.txt";
    private static final List<String> DEFAULTS = loadDefaults();

    /** The 85 default templates, in the official order (an unmodifiable list). */
    public static List<String> defaults() {
        return DEFAULTS;
    }

    /**
     * Reads templates from a UTF-8 text file: one template per line, {@code {}} where the label
     * goes, blank lines skipped.
     *
     * @throws IOException if the file cannot be read or is not UTF-8
     * @throws IllegalArgumentException naming the file and line of a template without a placeholder
     *     or with braces Python's {@code str.format} would reject, or if the file has no template
     */
    public static List<String> fromFile(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IOException(file + ": not UTF-8 text", e);
        }
        return parse(text, file.toString());
    }

    /**
     * The prompt for {@code label}: every {@code {}} (or {@code {0}}) of {@code template} replaced by
     * the label, <code>&#123;&#123;</code> and <code>&#125;&#125;</code> by single braces.
     *
     * @throws IllegalArgumentException if the template has no placeholder or a stray brace
     */
    public static String apply(String template, String label) {
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(label, "label");
        String error = check(template);
        if (error != null) {
            throw new IllegalArgumentException("template \"" + template + "\": " + error);
        }
        return format(template, label);
    }

    static List<String> parse(String text, String source) {
        List<String> templates = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.endsWith("\r")) {
                line = line.substring(0, line.length() - 1);
            }
            if (i == 0 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            if (line.isBlank()) {
                continue;
            }
            String error = check(line);
            if (error != null) {
                throw new IllegalArgumentException(source + ", line " + (i + 1) + ": " + error + ": \"" + line + "\"");
            }
            templates.add(line);
        }
        if (templates.isEmpty()) {
            throw new IllegalArgumentException(source + ": no templates (every line is blank)");
        }
        return List.copyOf(templates);
    }

    /** Null if {@code template} formats like Python's str.format with one argument, else why not. */
    private static String check(String template) {
        int placeholders = 0;
        int automatic = 0;
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '{') {
                if (template.startsWith("{{", i)) {
                    i++;
                } else if (template.startsWith("{}", i)) {
                    placeholders++;
                    automatic++;
                    i++;
                } else if (template.startsWith("{0}", i)) {
                    placeholders++;
                    i += 2;
                } else {
                    return "unsupported '{' at column " + (i + 1) + " (use {} for the label, {{ for a brace)";
                }
            } else if (c == '}') {
                if (template.startsWith("}}", i)) {
                    i++;
                } else {
                    return "single '}' at column " + (i + 1) + " (use }} for a brace)";
                }
            }
        }
        if (placeholders == 0) {
            return "no {} placeholder for the label";
        }
        if (automatic > 1) {
            // Python: "a {} {}".format(x) raises IndexError (replacement index 1 out of range).
            return "more than one {} (the label is the only argument; use {0} to repeat it)";
        }
        if (automatic > 0 && placeholders > automatic) {
            return "mixes {} and {0} (Python cannot switch between automatic and manual numbering)";
        }
        return null;
    }

    private static String format(String template, String label) {
        StringBuilder sb = new StringBuilder(template.length() + label.length());
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (template.startsWith("{{", i) || template.startsWith("}}", i)) {
                sb.append(c);
                i++;
            } else if (template.startsWith("{}", i)) {
                sb.append(label);
                i++;
            } else if (template.startsWith("{0}", i)) {
                sb.append(label);
                i += 2;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static List<String> loadDefaults() {
        String where = "classpath:org/clipsurgery/text/" + DEFAULTS_RESOURCE;
        try (InputStream in = PromptTemplates.class.getResourceAsStream(DEFAULTS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(where + " is missing");
            }
            List<String> list = parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), where);
            if (list.size() != DEFAULT_COUNT) {
                throw new IllegalStateException(where + " has " + list.size() + " templates, expected " + DEFAULT_COUNT);
            }
            return list;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + where, e);
        }
    }
}
