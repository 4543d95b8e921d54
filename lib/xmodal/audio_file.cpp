#include "xmodal/audio_file.hpp"

#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

#include "xmodal/error.hpp"

namespace xmodal {

namespace {
std::string av_message(int code) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, buf, sizeof buf);
    return buf;
}
}  // namespace

std::vector<float> decode_audio_file(const std::string& path, int sample_rate) {
    if (sample_rate <= 0) fail(path, ": sample rate must be positive, got ", sample_rate);
    AVFormatContext* raw_format = nullptr;
    if (int err = avformat_open_input(&raw_format, path.c_str(), nullptr, nullptr); err < 0) fail(path, ": cannot open: ", av_message(err));
    std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> format(raw_format, [](AVFormatContext* f) { avformat_close_input(&f); });
    if (int err = avformat_find_stream_info(format.get(), nullptr); err < 0) fail(path, ": cannot read stream info: ", av_message(err));
    const AVCodec* codec = nullptr;
    int stream = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (stream < 0 || !codec) fail(path, ": no decodable audio stream");
    std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> decoder(avcodec_alloc_context3(codec), [](AVCodecContext* c) { avcodec_free_context(&c); });
    avcodec_parameters_to_context(decoder.get(), format->streams[stream]->codecpar);
    if (int err = avcodec_open2(decoder.get(), codec, nullptr); err < 0) fail(path, ": cannot open the ", codec->name, " decoder: ", av_message(err));

    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* raw_swr = nullptr;
    if (int err = swr_alloc_set_opts2(&raw_swr, &mono, AV_SAMPLE_FMT_FLT, sample_rate, &decoder->ch_layout, decoder->sample_fmt,
                                      decoder->sample_rate, 0, nullptr);
        err < 0)
        fail(path, ": cannot set up resampling: ", av_message(err));
    std::unique_ptr<SwrContext, void (*)(SwrContext*)> swr(raw_swr, [](SwrContext* s) { swr_free(&s); });
    // Downmix as the mean of the channels (0.5·L + 0.5·R), as ffmpeg's CLI does when it writes
    // 16-bit files: libswresample normalises its matrix only for integer outputs, and for float
    // it would mix stereo as 0.707·(L+R), 3 dB louder — enough to move YAMNet's scores by 0.05.
    av_opt_set_double(swr.get(), "rematrix_maxval", 1.0, 0);
    if (int err = swr_init(swr.get()); err < 0) fail(path, ": cannot set up resampling: ", av_message(err));

    std::unique_ptr<AVPacket, void (*)(AVPacket*)> packet(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
    std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(), [](AVFrame* f) { av_frame_free(&f); });
    std::vector<float> samples;
    auto convert = [&](const AVFrame* f) {
        int room = swr_get_out_samples(swr.get(), f ? f->nb_samples : 0);
        if (room <= 0) return;
        std::size_t at = samples.size();
        samples.resize(at + static_cast<std::size_t>(room));
        auto* out = reinterpret_cast<std::uint8_t*>(samples.data() + at);
        int got = swr_convert(swr.get(), &out, room, f ? const_cast<const std::uint8_t**>(f->extended_data) : nullptr, f ? f->nb_samples : 0);
        if (got < 0) fail(path, ": resampling failed: ", av_message(got));
        samples.resize(at + static_cast<std::size_t>(got));
    };
    auto drain = [&] {
        while (true) {
            int err = avcodec_receive_frame(decoder.get(), frame.get());
            if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
            if (err < 0) fail(path, ": decode error: ", av_message(err));
            convert(frame.get());
        }
    };
    while (av_read_frame(format.get(), packet.get()) >= 0) {
        if (packet->stream_index == stream) {
            if (int err = avcodec_send_packet(decoder.get(), packet.get()); err < 0 && err != AVERROR(EAGAIN)) fail(path, ": decode error: ", av_message(err));
            drain();
        }
        av_packet_unref(packet.get());
    }
    avcodec_send_packet(decoder.get(), nullptr);
    drain();
    convert(nullptr);  // flush the resampler
    return samples;
}

}  // namespace xmodal
